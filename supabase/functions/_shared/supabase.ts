/**
 * The request-scoped Supabase client: built from the caller's `Authorization` header, so
 * PostgREST and Storage run every query as the caller and RLS decides what they see.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { Database } from "../../types/database.ts";

export type VprocClient = SupabaseClient<Database>;

export interface SupabaseEnv {
  url: string;
  anonKey: string;
}

/** Read SUPABASE_URL and SUPABASE_ANON_KEY (set by the Edge Runtime); throws when missing. */
export function supabaseEnv(env: Readonly<Record<string, string | undefined>>): SupabaseEnv {
  const url = env.SUPABASE_URL;
  const anonKey = env.SUPABASE_ANON_KEY;
  if (!url || !anonKey) {
    throw new Error("SUPABASE_URL and SUPABASE_ANON_KEY must be set");
  }
  return { url, anonKey };
}

/** Create a client that acts as the caller whose `Bearer` token is `accessToken`. */
export function createCallerClient(
  env: SupabaseEnv,
  accessToken: string,
  fetchImpl?: typeof fetch,
): VprocClient {
  return createClient<Database>(env.url, env.anonKey, {
    global: {
      headers: { Authorization: `Bearer ${accessToken}` },
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    },
    // A server-side client for one request: no session to store, refresh or detect.
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}
