/**
 * CORS for browser callers: the request headers supabase-js sends, allowed on every response.
 * Functions answer preflights with `preflight()` and spread `corsHeaders` into the rest.
 */
import { corsHeaders as supabaseCorsHeaders } from "@supabase/supabase-js/cors";

export const corsHeaders: Readonly<Record<string, string>> = {
  ...supabaseCorsHeaders,
  // The functions in this project are read-only endpoints.
  "Access-Control-Allow-Methods": "GET, OPTIONS",
};

/** Answer an OPTIONS preflight. */
export function preflight(): Response {
  return new Response("ok", { headers: corsHeaders });
}
