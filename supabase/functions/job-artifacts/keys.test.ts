/**
 * Both of Supabase's key systems: the function reads the new `SUPABASE_PUBLISHABLE_KEYS` /
 * `SUPABASE_SECRET_KEYS` (JSON objects keyed by name) or the legacy `SUPABASE_ANON_KEY` /
 * `SUPABASE_SERVICE_ROLE_KEY`, sends the API key only as `apikey` (new keys are not JWTs), and
 * verifies callers itself, asymmetric (ES256, JWKS) user tokens included, because the
 * platform's `verify_jwt` gate is off for it in config.toml.
 */
import assert from "node:assert/strict";
import { supabaseEnv } from "../_shared/supabase.ts";
import { configFromEnv, supabaseAuthenticator } from "./caller.ts";
import { handle } from "./handler.ts";
import { es256Jwt, es256SigningKey, userClaims } from "./testing/keys.ts";

const SUPABASE_URL = "http://supabase.test";
const ALICE = "0b5c5a2e-8f40-4c55-9e0c-1d2f3a4b5c6d";
const PUBLISHABLE = "sb_publishable_8Gm1hX0aW3vO9cPq_0f1Xw_7dYk2LrT";
const SECRET = "sb_secret_Nq4Zt1oP0c9Ab7Cd_3eKx2Q_v6Lm8RsW";
const KID = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";

const NEW_KEYS = {
  SUPABASE_URL,
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }),
};
const LEGACY_KEYS = {
  SUPABASE_URL,
  SUPABASE_ANON_KEY: "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.anon",
  SUPABASE_SERVICE_ROLE_KEY: "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.service",
};

Deno.test("supabaseEnv reads the new JSON key dictionaries", () => {
  assert.deepEqual(supabaseEnv(NEW_KEYS), {
    url: SUPABASE_URL,
    publishableKey: PUBLISHABLE,
    secretKey: SECRET,
    jwks: null,
  });
});

Deno.test("supabaseEnv picks the key named `default`, else the only one", () => {
  const named = {
    SUPABASE_URL,
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ web: "sb_publishable_web", default: PUBLISHABLE }),
  };
  assert.equal(supabaseEnv(named).publishableKey, PUBLISHABLE);
  const single = { SUPABASE_URL, SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ web: PUBLISHABLE }) };
  assert.equal(supabaseEnv(single).publishableKey, PUBLISHABLE);
  assert.equal(supabaseEnv(single).secretKey, null);
});

Deno.test("supabaseEnv falls back to the legacy anon and service role keys", () => {
  assert.deepEqual(supabaseEnv(LEGACY_KEYS), {
    url: SUPABASE_URL,
    publishableKey: LEGACY_KEYS.SUPABASE_ANON_KEY,
    secretKey: LEGACY_KEYS.SUPABASE_SERVICE_ROLE_KEY,
    jwks: null,
  });
  // The new keys win when a project has both.
  assert.equal(supabaseEnv({ ...LEGACY_KEYS, ...NEW_KEYS }).publishableKey, PUBLISHABLE);
});

Deno.test("supabaseEnv refuses a missing key and malformed JSON, naming the variables", () => {
  assert.throws(
    () => supabaseEnv({ SUPABASE_URL }),
    /SUPABASE_PUBLISHABLE_KEYS.*SUPABASE_ANON_KEY/,
  );
  assert.throws(
    () => supabaseEnv({ SUPABASE_URL, SUPABASE_PUBLISHABLE_KEYS: "sb_publishable_x" }),
    /SUPABASE_PUBLISHABLE_KEYS is not a JSON object/,
  );
  assert.throws(
    () => supabaseEnv({ SUPABASE_URL, SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ a: 1 }) }),
    /SUPABASE_PUBLISHABLE_KEYS/,
  );
});

interface Seen {
  path: string;
  authorization: string | null;
  apikey: string | null;
}

/** Auth's JWKS and getUser, PostgREST and Storage of a project on the new keys. */
function fakeProject(jwks: JsonWebKey[], seen: Seen[]): typeof fetch {
  return (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    seen.push({
      path: url.pathname,
      authorization: request.headers.get("Authorization"),
      apikey: request.headers.get("apikey"),
    });
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { "Content-Type": "application/json" },
      });
    if (request.headers.get("apikey") !== PUBLISHABLE) {
      return Promise.resolve(json({ message: "Invalid API key" }, 401));
    }
    if (url.pathname === "/auth/v1/.well-known/jwks.json") {
      return Promise.resolve(json({ keys: jwks }));
    }
    if (url.pathname === "/auth/v1/user") {
      return Promise.resolve(json({ code: 403, error_code: "bad_jwt", msg: "invalid JWT" }, 403));
    }
    if (url.pathname === "/rest/v1/video_jobs") return Promise.resolve(json([]));
    return Promise.resolve(json({ message: "no route" }, 404));
  };
}

async function call(env: Record<string, string>, token: string, fetchImpl: typeof fetch) {
  const config = await configFromEnv(env);
  const deps = {
    authenticate: supabaseAuthenticator({ ...config, fetch: fetchImpl }),
    log: () => {},
  };
  return handle(
    new Request(`${SUPABASE_URL}/functions/v1/job-artifacts?job_id=7`, {
      headers: { Authorization: `Bearer ${token}` },
    }),
    deps,
  );
}

Deno.test("an ES256 user token is verified against the JWKS and the publishable key is apikey only", async () => {
  const { privateKey, jwk } = await es256SigningKey(KID);
  const token = await es256Jwt(userClaims(ALICE), privateKey, KID);
  const seen: Seen[] = [];

  const response = await call(NEW_KEYS, token, fakeProject([jwk], seen));

  // RLS hides job 7 from Alice: 404 means the token was accepted and PostgREST was asked.
  assert.equal(response.status, 404);
  assert.deepEqual(seen.map((s) => s.path), [
    "/auth/v1/.well-known/jwks.json",
    "/rest/v1/video_jobs",
  ]);
  for (const request of seen) {
    assert.equal(request.apikey, PUBLISHABLE);
    // Never `Bearer sb_…`: new API keys are not JWTs.
    assert.notEqual(request.authorization, `Bearer ${PUBLISHABLE}`);
  }
  assert.equal(seen[1].authorization, `Bearer ${token}`);
  assert.ok(seen.every((s) => !s.authorization?.includes(SECRET) && s.apikey !== SECRET));
});

Deno.test("SUPABASE_JWKS verifies locally: no request to Auth at all", async () => {
  const { privateKey, jwk } = await es256SigningKey(KID);
  const token = await es256Jwt(userClaims(ALICE), privateKey, KID);
  const seen: Seen[] = [];
  const env = { ...NEW_KEYS, SUPABASE_JWKS: JSON.stringify({ keys: [jwk] }) };

  const response = await call(env, token, fakeProject([], seen));

  assert.equal(response.status, 404);
  assert.deepEqual(seen.map((s) => s.path), ["/rest/v1/video_jobs"]);
});

Deno.test("an ES256 token signed by another key is 401 and PostgREST is never asked", async () => {
  const { jwk } = await es256SigningKey(KID);
  const forger = await es256SigningKey(KID);
  const forged = await es256Jwt(userClaims(ALICE), forger.privateKey, KID);
  const seen: Seen[] = [];

  const response = await call(NEW_KEYS, forged, fakeProject([jwk], seen));

  assert.equal(response.status, 401);
  assert.equal(seen.filter((s) => s.path.startsWith("/rest")).length, 0);
});

Deno.test("an expired ES256 token is 401", async () => {
  const { privateKey, jwk } = await es256SigningKey(KID);
  const expired = await es256Jwt(userClaims(ALICE, -60), privateKey, KID);
  const response = await call(NEW_KEYS, expired, fakeProject([jwk], []));
  assert.equal(response.status, 401);
});

Deno.test("config.toml turns the platform's verify_jwt off for job-artifacts", async () => {
  const toml = await Deno.readTextFile(new URL("../../config.toml", import.meta.url));
  const section = toml.split(/^\[/m).find((s) => s.startsWith("functions.job-artifacts]"));
  assert.ok(section, "config.toml has no [functions.job-artifacts] section");
  assert.match(section, /^verify_jwt\s*=\s*false\s*$/m);
});
