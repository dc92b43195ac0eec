// Umbrella from a plain web page: sign-in by redirect, the session cookie, a write, an
// upload straight to S3, an inline preview, the inbox poll and sign-out. No build step:
// serve this folder and open index.html?api=<the API's origin> (docs/web-app.md).
//
// The page must be on the same site as the API (same host, or sibling subdomains):
// the session cookie is SameSite=Lax, so a browser never sends it from another site.

// Where the API is: `?api=`, else this page's own origin (the API under /v1 on the same
// host). Query settings are remembered for the tab: the sign-in comes back to this page
// at UMBRELLA_AUTH_REDIRECT_URL, which need not carry them.
const API = setting("api", location.origin).replace(/\/+$/, "");
const POLL_SECONDS = Number(setting("poll_seconds", "5"));

function setting(name, fallback) {
  const given = new URLSearchParams(location.search).get(name);
  if (given) sessionStorage.setItem(`umbrella.${name}`, given);
  return given ?? sessionStorage.getItem(`umbrella.${name}`) ?? fallback;
}

// -- calling the API ---------------------------------------------------------------------

/** An error envelope: `{"success": false, "error": {"code", "message", "field"}}`. */
class ApiError extends Error {
  constructor(status, error, retryAfter) {
    super(error.message);
    this.status = status;
    this.code = error.code;
    this.field = error.field ?? null;
    this.retryAfter = retryAfter === null ? null : Number(retryAfter);
  }
}

/** One API call with the session cookie; the envelope's `data`, or an ApiError. */
async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(API + path, {
    method,
    // Send the session cookie, and keep the one a sign-in or sign-out sets.
    credentials: "include",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload;
  try {
    payload = await response.json();
  } catch {
    // Not the API's own answer (a proxy's error page, say).
    payload = { success: false, error: { code: `HTTP_${response.status}`, message: response.statusText } };
  }
  if (!payload.success) {
    throw new ApiError(response.status, payload.error, response.headers.get("Retry-After"));
  }
  return payload.data;
}

/** What to tell the person about an error, by its status and code. */
function describe(error) {
  if (error instanceof TypeError) {
    // fetch itself failed: the network, or CORS refused this page's origin.
    return `The API could not be reached (${error.message}). Is this page's origin in UMBRELLA_CORS_ORIGINS?`;
  }
  if (!(error instanceof ApiError)) return error.message;
  const where = error.field ? ` (field ${error.field})` : "";
  const what = `${error.status} ${error.code}${where}: ${error.message}`;
  if (error.status === 401) return `${what}\nSigned out: sign in again.`;
  if (error.status === 429) return `${what}\nToo many requests: try again in ${error.retryAfter ?? "a few"} s.`;
  if (error.status === 503) return `${what}\nThe service is busy or a part of it is down: try again shortly.`;
  return what;
}

/** The code an output shows for an error: the envelope's, else what kind of failure. */
function codeOf(error) {
  if (error instanceof ApiError) return error.code;
  return error instanceof TypeError ? "NETWORK" : "FAILED";
}

function show(id, status, text, code = "") {
  const output = document.getElementById(id);
  output.dataset.status = status;
  output.dataset.code = code;
  output.textContent = text;
}

/** Run a step, showing its result or its error in the output `id`. */
async function step(id, work) {
  show(id, "busy", "…");
  try {
    show(id, "ok", await work());
  } catch (error) {
    show(id, "error", describe(error), codeOf(error));
  }
}

// -- 1. sign in --------------------------------------------------------------------------

async function listProviders() {
  const { providers } = await api("/v1/auth/providers");
  // login_url is opened as a page, never fetched: the provider's own page comes next,
  // then the API sends the browser back here (UMBRELLA_AUTH_REDIRECT_URL).
  const links = providers.map((provider) => {
    const link = Object.assign(document.createElement("a"), {
      href: provider.login_url,
      textContent: `Sign in with ${provider.name}`,
    });
    link.dataset.provider = provider.id;
    const item = document.createElement("li");
    item.append(link);
    return item;
  });
  document.getElementById("providers").replaceChildren(...links);
  if (!providers.length) {
    document.getElementById("dev-sign-in").open = true;
    return "No sign-in provider is configured on this API (try the development sign-in).";
  }
  return `${providers.length} sign-in provider(s): ${providers.map((p) => p.name).join(", ")}`;
}

/** The query the API put on this page's URL at the end of a sign-in, if any. */
function signInReturn() {
  const query = new URLSearchParams(location.search);
  if (query.has("error")) {
    const field = query.get("field") ? ` (field ${query.get("field")})` : "";
    const wait = query.get("retry_after") ? `: try again in ${query.get("retry_after")} s` : "";
    show("sign-in-result", "error", `Sign-in failed: ${query.get("error")}${field}${wait}`, query.get("error"));
  } else if (query.has("onboarding_complete")) {
    const next = query.get("next_step");
    show("sign-in-result", "ok", next ? `Signed in. Onboarding goes on at: ${next}` : "Signed in. Onboarding is complete.");
  } else {
    return;
  }
  // A reload must not report the sign-in again.
  history.replaceState(null, "", location.pathname);
}

async function devLogin(email) {
  const { session } = await api("/v1/auth/dev-login", { method: "POST", body: { email, create: true } });
  await step("session-result", readSession);
  return `Signed in as ${session.user.email} (development).`;
}

// -- 2. the session ----------------------------------------------------------------------

async function readSession() {
  const session = await api("/v1/auth/session");
  const { user } = session;
  return `${user.email ?? user.id} — role ${user.role ?? "not chosen yet"}, next step ${session.next_step ?? "none (onboarding complete)"}`;
}

// -- 3. a write with the cookie ----------------------------------------------------------

async function becomeArtist() {
  // A write from the page: the browser adds `Origin`, which the API checks for every
  // write the cookie authenticates (UMBRELLA_CORS_ORIGINS).
  await api("/v1/onboarding/role", { method: "POST", body: { role: "artist" } });
  const status = await api("/v1/onboarding/artists/step1", {
    method: "POST",
    body: { stage_name: "Example Artist", city: "Austin", country: "US" },
  });
  await step("session-result", readSession);
  return `Artist profile: ${status.has_artist_profile}; next step ${status.next_step ?? "none"}`;
}

// -- 4. upload straight to S3, confirm, show ---------------------------------------------

async function uploadImage() {
  const file = document.getElementById("file").files[0] ?? (await drawnImage());
  // 1. Ask for an upload: the type and the exact size (the store refuses a larger body).
  const ticket = await api("/v1/files/upload", {
    method: "POST",
    body: { content_type: file.type, size_bytes: file.size, filename: file.name },
  });
  // 2. POST every field of the ticket, then the file last, straight to the store. No
  //    credentials: the signed policy is the permission.
  const form = new FormData();
  for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
  form.append("file", file);
  const stored = await fetch(ticket.url, { method: "POST", body: form });
  if (!stored.ok) {
    throw new Error(`The store refused the upload: ${stored.status} ${await stored.text()}`);
  }
  // 3. Confirm: the API checks the bytes, charges the quota and records the file.
  const saved = await api("/v1/files", { method: "POST", body: { upload_id: ticket.upload_id } });
  await showFile(saved.id);
  return `Uploaded ${saved.filename} (${saved.size_bytes} bytes, ${saved.mime_type}) as file ${saved.id}`;
}

/** A PNG drawn on a canvas: something to upload when no file was picked. */
async function drawnImage() {
  const canvas = Object.assign(document.createElement("canvas"), { width: 160, height: 90 });
  const context = canvas.getContext("2d");
  context.fillStyle = "#2b4c7e";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#fff";
  context.font = "bold 20px sans-serif";
  context.fillText("Umbrella", 30, 52);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  return new File([blob], "umbrella-example.png", { type: "image/png" });
}

/** Show a file from its link: `disposition=inline` makes a link the browser displays. */
async function showFile(fileId) {
  await step("preview-result", async () => {
    const file = await api(`/v1/files/${fileId}?disposition=inline`);
    const preview = document.getElementById("preview");
    preview.src = file.download_url;
    await preview.decode();
    return `Shown from its link (${preview.naturalWidth}×${preview.naturalHeight}), valid until ${file.download_expires_at}`;
  });
}

// -- 5. the inbox poll -------------------------------------------------------------------
//
// A plain credentialed GET, with no header of our own: the answer carries an `ETag` and
// `Cache-Control: private, no-cache`, so the browser keeps it and asks again with
// `If-None-Match` by itself. An unchanged inbox is then a 304 on the wire (no body, no
// database query) and the same answer here. Setting `If-None-Match` by hand would make
// every poll a CORS preflight (OPTIONS) plus the GET.

const inbox = { since: null, conversations: new Map(), polls: 0, timer: null };

async function poll() {
  const query = inbox.since === null ? "" : `?since=${encodeURIComponent(inbox.since)}`;
  const page = await api(`/v1/conversations${query}`);
  // Changed conversations replace their old copy (re-sort by last_activity_at to show).
  for (const conversation of page.items) inbox.conversations.set(conversation.id, conversation);
  inbox.since = page.since;
  inbox.polls += 1;
  if (page.has_more) return poll(); // more changes wait: ask again at once
  return `${inbox.polls} poll(s), ${inbox.conversations.size} conversation(s)`;
}

function schedulePoll(seconds) {
  inbox.timer = setTimeout(async () => {
    try {
      show("poll-result", "ok", await poll());
      schedulePoll(POLL_SECONDS);
    } catch (error) {
      show("poll-result", "error", describe(error), codeOf(error));
      if (error instanceof ApiError && error.status === 401) return stopPolling(); // signed out
      // 429: wait as told; anything else (503, the network): back off, then go on.
      schedulePoll(error.retryAfter ?? POLL_SECONDS * 6);
    }
  }, seconds * 1000);
}

function startPolling() {
  stopPolling();
  // Load the whole inbox first (step 1 of docs/messaging.md), then only what changed.
  inbox.since = null;
  inbox.conversations.clear();
  schedulePoll(0);
}

function stopPolling() {
  clearTimeout(inbox.timer);
  inbox.timer = null;
}

// -- 6. sign out -------------------------------------------------------------------------

async function signOut() {
  stopPolling();
  // This device only; POST /v1/auth/logout signs out everywhere. Both clear the cookie.
  const { revoked } = await api("/v1/auth/session", { method: "DELETE" });
  await step("session-result", readSession);
  return `Signed out (${revoked} session revoked).`;
}

// -- wiring ------------------------------------------------------------------------------

function on(id, event, handler) {
  document.getElementById(id).addEventListener(event, handler);
}

document.getElementById("api-base").textContent = API;
on("read-session", "click", () => step("session-result", readSession));
on("onboard", "click", () => step("onboard-result", becomeArtist));
on("upload", "click", () => step("upload-result", uploadImage));
on("poll-start", "click", startPolling);
on("poll-stop", "click", stopPolling);
on("sign-out", "click", () => step("sign-out-result", signOut));
on("dev-login", "submit", (event) => {
  event.preventDefault();
  step("sign-in-result", () => devLogin(new FormData(event.target).get("email")));
});

signInReturn();
step("providers-result", listProviders);
step("session-result", readSession);
