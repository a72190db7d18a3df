/**
 * JSON and error responses with CORS, and the caller's bearer token.
 * Error bodies are `{ "error": { "code", "message" } }`; `code` is stable, `message` is for people.
 */
import { corsHeaders } from "./cors.ts";

export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "not_found"
  | "method_not_allowed"
  | "upstream_unavailable"
  | "internal";

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

/** A JSON response that no cache keeps (bodies carry private data and signed URLs). */
export function jsonResponse(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  const merged = new Headers(corsHeaders);
  merged.set("Content-Type", "application/json; charset=utf-8");
  merged.set("Cache-Control", "no-store");
  new Headers(headers).forEach((value, name) => merged.set(name, value));
  return new Response(JSON.stringify(body), { status, headers: merged });
}

/** An error response with a stable `code`. */
export function errorResponse(
  status: number,
  code: ErrorCode,
  message: string,
  headers: HeadersInit = {},
): Response {
  const body: ErrorBody = { error: { code, message } };
  return jsonResponse(body, status, headers);
}

/** The token of an `Authorization: Bearer <token>` header, or null when there is none. */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get("Authorization");
  const match = header?.match(/^Bearer[ ]+([^\s]+)\s*$/i);
  return match ? match[1] : null;
}
