/**
 * Calls the document must refuse. Each line below is a compile error (`@ts-expect-error`):
 * should the document stop requiring a body or stop listing the error codes, the line
 * compiles, the directive is unused, and `tsc` fails.
 */
import type { ErrorCode, UmbrellaClient } from "./client";

export function refusedCalls(client: UmbrellaClient, error: ErrorCode): boolean {
  // @ts-expect-error: sending a message needs its body
  void client.POST("/v1/conversations/{conversation_id}/messages", {
    params: { path: { conversation_id: "c6b8c1a4-0000-4000-8000-000000000000" } },
  });
  // @ts-expect-error: so does creating a gig
  void client.POST("/v1/gigs", {});
  // @ts-expect-error: a body of the wrong shape
  void client.POST("/v1/onboarding/role", { body: { role: "drummer" } });
  // @ts-expect-error: no such error code
  const unknown: ErrorCode = "RATE_LIMITED";
  // @ts-expect-error: a comparison with a code that does not exist can never be true
  return error === "NOT_A_CODE" || unknown === "NOT_FOUND";
}
