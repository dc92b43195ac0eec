/**
 * A small typed client of the Umbrella API, for the web app to start from.
 *
 * The types come from the API's OpenAPI document (`src/schema.d.ts`, written by
 * `make client`); the calls go through openapi-fetch, so a path, a parameter, a body or
 * an answer that the document does not describe is a compile error. Every answer is an
 * envelope: `{success: true, data, meta}`, or `{success: false, error: {code, message,
 * field?}, meta}` with `code` one of `ErrorCode`.
 */
import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./schema";

export type { components, operations, paths } from "./schema";

export type Schemas = components["schemas"];
export type ErrorCode = Schemas["ErrorCode"];
export type ErrorBody = Schemas["ErrorBody"];
export type UmbrellaClient = Client<paths>;

export interface UmbrellaClientOptions {
  /** The API's address: `servers[0].url` of the document (its paths start with /v1). */
  baseUrl: string;
  /** A session token, for a caller that is no browser; a browser sends the session cookie. */
  token?: string;
  fetch?: (input: Request) => Promise<Response>;
}

export function createUmbrellaClient(options: UmbrellaClientOptions): UmbrellaClient {
  return createClient<paths>({
    baseUrl: options.baseUrl,
    // The session cookie goes along with every call (the API's CORS allows credentials).
    credentials: "include",
    headers: options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` },
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
}

/** An error answer: its `code` tells the client what to do, `field` which input is wrong. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly field: string | null;

  constructor(
    readonly status: number,
    body: ErrorBody,
    /** From `Retry-After` on a 429 or 503: when to try again. */
    readonly retryAfterSeconds: number | null,
  ) {
    super(body.message);
    this.name = "ApiError";
    this.code = body.code;
    this.field = body.field ?? null;
  }
}

interface Answer<T> {
  data?: { data: T } | undefined;
  error?: unknown;
  response: Response;
}

function isErrorEnvelope(value: unknown): value is { error: ErrorBody } {
  return typeof value === "object" && value !== null && "error" in value;
}

/** The `data` of a successful envelope; an `ApiError` for any other answer. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (data !== undefined) {
    return data.data;
  }
  const retryAfter = response.headers.get("Retry-After");
  const body: ErrorBody = isErrorEnvelope(error)
    ? error.error
    : { code: "INTERNAL_ERROR", message: `Unexpected answer ${response.status}.` };
  throw new ApiError(response.status, body, retryAfter === null ? null : Number(retryAfter));
}

/** The sign-in buttons to show: the providers this deployment has configured. */
export async function signInProviders(client: UmbrellaClient): Promise<Schemas["ProviderOut"][]> {
  const page = await unwrap(client.GET("/v1/auth/providers"));
  return page.providers;
}

/** Who is signed in, and which onboarding step comes next (an `ApiError` 401 if nobody). */
export function getSession(client: UmbrellaClient): Promise<Schemas["SessionOut"]> {
  return unwrap(client.GET("/v1/auth/session"));
}

export type GigFilters = NonNullable<paths["/v1/gigs"]["get"]["parameters"]["query"]>;

/** Every gig of the marketplace matching `filters`, page after page (a keyset cursor). */
export async function* browseGigs(
  client: UmbrellaClient,
  filters: Omit<GigFilters, "cursor"> = {},
): AsyncGenerator<Schemas["GigOut"]> {
  let cursor: string | null = null;
  do {
    const query: GigFilters = cursor === null ? filters : { ...filters, cursor };
    const page: Schemas["GigBrowsePage"] = await unwrap(
      client.GET("/v1/gigs", { params: { query } }),
    );
    yield* page.items;
    cursor = page.next_cursor ?? null;
  } while (cursor !== null);
}

/** Send a message in a conversation (a write: its body is required). */
export function sendMessage(
  client: UmbrellaClient,
  conversationId: string,
  message: Schemas["MessageCreateIn"],
): Promise<Schemas["MessageOut"]> {
  return unwrap(
    client.POST("/v1/conversations/{conversation_id}/messages", {
      params: { path: { conversation_id: conversationId } },
      body: message,
    }),
  );
}

/** Where an inbox poll left off: pass it back to the next `pollInbox`. */
export interface InboxCursor {
  since: string | null;
  etag: string | null;
}

export type InboxPoll =
  | { changed: false; next: InboxCursor }
  | { changed: true; page: Schemas["ConversationListOut"]; next: InboxCursor };

/**
 * One poll of the inbox: the conversations changed since the last poll. An unchanged inbox
 * answers 304 to the last `ETag` in `If-None-Match`, without a database query.
 *
 * In a browser leave `sendEtag` off: the browser's HTTP cache sends `If-None-Match` itself
 * (the answer is `private, no-cache`) and hands back the cached page on a 304, while a
 * header set by hand would cost a CORS preflight per poll. Elsewhere (Node, a native app)
 * turn it on, and an unchanged inbox comes back as `{changed: false}`.
 */
export async function pollInbox(
  client: UmbrellaClient,
  last: InboxCursor,
  { sendEtag = false }: { sendEtag?: boolean } = {},
): Promise<InboxPoll> {
  const answer = await client.GET("/v1/conversations", {
    params: {
      query: last.since === null ? {} : { since: last.since },
      header: sendEtag && last.etag !== null ? { "If-None-Match": last.etag } : {},
    },
  });
  const etag = answer.response.headers.get("ETag") ?? last.etag;
  if (answer.response.status === 304) {
    return { changed: false, next: { since: last.since, etag } };
  }
  const page = await unwrap(Promise.resolve(answer));
  return { changed: true, page, next: { since: page.since, etag } };
}
