/**
 * The request-scoped Supabase client: built from the caller's `Authorization` header, so
 * PostgREST and Storage run every query as the caller and RLS decides what they see.
 * Reads the project's keys from either key system the Edge Runtime provides.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { Database } from "../../types/database.ts";

export type VprocClient = SupabaseClient<Database>;

/** One public key of Auth's JSON Web Key Set. */
export interface Jwk {
  kty: string;
  key_ops: string[];
  kid?: string;
  alg?: string;
  [member: string]: unknown;
}

/** The JSON Web Key Set Auth signs asymmetric user JWTs with (`SUPABASE_JWKS`). */
export interface Jwks {
  keys: Jwk[];
}

export interface SupabaseEnv {
  url: string;
  /** `sb_publishable_…` (or the legacy anon JWT): the `apikey` of requests made as the caller. */
  publishableKey: string;
  /**
   * `sb_secret_…` (or the legacy service-role JWT); null when the runtime has none. It
   * bypasses RLS, so callers' requests never carry it. A new secret key is not a JWT: it goes
   * in the `apikey` header only (supabase-js sends it so), never as `Authorization: Bearer`.
   */
  secretKey: string | null;
  /** Lets supabase-js verify asymmetric JWTs without fetching Auth's JWKS; null: it fetches. */
  jwks: Jwks | null;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Read SUPABASE_URL and the API keys the Edge Runtime sets: `SUPABASE_PUBLISHABLE_KEYS` /
 * `SUPABASE_SECRET_KEYS` (JSON objects keyed by name; the key named `default`, else the only
 * one), falling back to the legacy `SUPABASE_ANON_KEY` / `SUPABASE_SERVICE_ROLE_KEY`, and
 * `SUPABASE_JWKS` when present. Throws when the URL or a publishable key is missing or a
 * variable is malformed.
 */
export function supabaseEnv(env: Env): SupabaseEnv {
  const url = env.SUPABASE_URL;
  const publishableKey = namedKey(env, "SUPABASE_PUBLISHABLE_KEYS") ?? env.SUPABASE_ANON_KEY;
  if (!url || !publishableKey) {
    throw new Error(
      "SUPABASE_URL and SUPABASE_PUBLISHABLE_KEYS (or the legacy SUPABASE_ANON_KEY) must be set",
    );
  }
  const secretKey = namedKey(env, "SUPABASE_SECRET_KEYS") ?? env.SUPABASE_SERVICE_ROLE_KEY ??
    null;
  return { url, publishableKey, secretKey: secretKey || null, jwks: parseJwks(env.SUPABASE_JWKS) };
}

/** The `default` (or only) key of a JSON key dictionary; undefined when the variable is unset. */
function namedKey(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = null;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`${name} is not a JSON object of named keys`);
  }
  const keys = parsed as Record<string, unknown>;
  const names = Object.keys(keys);
  const key = keys.default ?? (names.length === 1 ? keys[names[0]] : undefined);
  if (typeof key !== "string" || key === "") {
    throw new Error(`${name} has no key named "default" (names: ${names.join(", ") || "none"})`);
  }
  return key;
}

function parseJwks(raw: string | undefined): Jwks | null {
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as { keys?: Array<Partial<Jwk> & { kty: string }> };
    if (!Array.isArray(parsed.keys)) return null;
    return { keys: parsed.keys.map((key) => ({ key_ops: ["verify"], ...key })) };
  } catch {
    return null;
  }
}

/** Create a client that acts as the caller whose `Bearer` token is `accessToken`. */
export function createCallerClient(
  env: SupabaseEnv,
  accessToken: string,
  fetchImpl?: typeof fetch,
): VprocClient {
  // The publishable key travels as `apikey`; Authorization carries the caller's JWT.
  return createClient<Database>(env.url, env.publishableKey, {
    global: {
      headers: { Authorization: `Bearer ${accessToken}` },
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    },
    // A server-side client for one request: no session to store, refresh or detect.
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
}
