/**
 * The Supabase adapter against a fake Supabase HTTP API (Auth, PostgREST, Storage): every
 * request carries the caller's own token, and each upstream answer maps to the right status.
 */
import assert from "node:assert/strict";
import {
  type CallerConfig,
  composedJobSelect,
  configFromEnv,
  JOB_SELECT,
  supabaseAuthenticator,
} from "./caller.ts";
import { handle } from "./handler.ts";
import type { JobArtifactsResponse } from "./response.ts";
import { hs256Jwt, rsaServiceAccountKey, userClaims } from "./testing/keys.ts";

const SUPABASE_URL = "http://supabase.test";
const ANON_KEY = "anon-key";
const ALICE = "0b5c5a2e-8f40-4c55-9e0c-1d2f3a4b5c6d";
const SECRET = "super-secret-jwt-token-with-at-least-32-characters";

interface Seen {
  method: string;
  path: string;
  search: URLSearchParams;
  authorization: string | null;
  apikey: string | null;
  body: string;
}

/** A fake Supabase project: answers the routes the adapter uses and records each request. */
class FakeSupabase {
  seen: Seen[] = [];
  validTokens = new Map<string, Record<string, unknown>>();
  jobs: unknown[] = [];
  missingObjects = new Set<string>();
  status: { auth?: number; rest?: number; storage?: number } = {};

  fetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const seen: Seen = {
      method: request.method,
      path: url.pathname,
      search: url.searchParams,
      authorization: request.headers.get("Authorization"),
      apikey: request.headers.get("apikey"),
      body: request.method === "GET" ? "" : await request.text(),
    };
    this.seen.push(seen);
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { "Content-Type": "application/json" },
      });
    const token = seen.authorization?.replace(/^Bearer /, "") ?? "";
    if (url.pathname === "/auth/v1/user") {
      if (this.status.auth) {
        return json({ code: this.status.auth, msg: "unavailable" }, this.status.auth);
      }
      const claims = this.validTokens.get(token);
      if (!claims) return json({ code: 403, error_code: "bad_jwt", msg: "invalid JWT" }, 403);
      return json({ id: claims.sub, aud: "authenticated", role: claims.role, email: claims.email });
    }
    if (url.pathname === "/rest/v1/video_jobs") {
      if (this.status.rest) {
        return json(
          { code: "XX000", message: "boom", details: null, hint: null },
          this.status.rest,
        );
      }
      return json(this.jobs);
    }
    if (url.pathname === "/storage/v1/object/sign/video-artifacts") {
      if (this.status.storage) {
        return json({ statusCode: "500", error: "boom", message: "boom" }, 500);
      }
      const { paths } = JSON.parse(seen.body) as { paths: string[] };
      return json(
        paths.map((path) =>
          this.missingObjects.has(path)
            ? {
              error: "Either the object does not exist or you do not have access to it",
              path,
              signedURL: null,
            }
            : {
              error: null,
              path,
              signedURL: `/object/sign/video-artifacts/${path}?token=t-${path.length}`,
            }
        ),
      );
    }
    return json({ message: "no route" }, 404);
  };
}

function jobRow(id: number, withMetadata: boolean): Record<string, unknown> {
  return {
    id,
    video_id: "6a7b8c9d-0000-4000-8000-000000000001",
    status: withMetadata ? "COMPLETED" : "PROCESSING",
    progress: withMetadata ? 1 : 0.5,
    current_stage: withMetadata ? null : "transcribe",
    error_code: null,
    error_message: null,
    cancel_requested: false,
    attempts: 1,
    max_attempts: 3,
    processing_stages: {},
    created_at: "2026-11-27T11:58:00+00:00",
    started_at: "2026-11-27T11:58:01+00:00",
    finished_at: null,
    updated_at: "2026-11-27T11:59:00+00:00",
    video: {
      original_filename: "talk.mp4",
      content_type: "video/mp4",
      size_bytes: 99,
      created_at: "2026-11-27T11:58:00+00:00",
    },
    metadata: withMetadata
      ? {
        title: "t",
        description: null,
        tags: [],
        transcript_text: "hi",
        show_notes_text: null,
        extracted_video_duration_seconds: 3,
        extracted_video_resolution: "640x360",
        extracted_video_format: "mp4",
        created_at: "2026-11-27T11:59:00+00:00",
        updated_at: "2026-11-27T11:59:00+00:00",
        transcript_file_url: `${ALICE}/${id}/transcript.txt`,
        subtitle_files_urls: {
          vtt: `${ALICE}/${id}/subtitles.vtt`,
          srt: `${ALICE}/${id}/subtitles.srt`,
        },
        thumbnail_file_url: `${ALICE}/${id}/thumbnail.jpg`,
      }
      : null,
  };
}

async function setup(configure: (fake: FakeSupabase) => void = () => {}) {
  const fake = new FakeSupabase();
  const token = await hs256Jwt(userClaims(ALICE), SECRET);
  fake.validTokens.set(token, userClaims(ALICE));
  configure(fake);
  const config: CallerConfig = {
    supabase: { url: SUPABASE_URL, publishableKey: ANON_KEY, secretKey: null, jwks: null },
    artifacts: { backend: "supabase", bucket: "video-artifacts" },
    fetch: fake.fetch,
  };
  const deps = { authenticate: supabaseAuthenticator(config), log: () => {} };
  const request = (query: string, bearer = token) =>
    handle(
      new Request(`${SUPABASE_URL}/functions/v1/job-artifacts${query}`, {
        headers: { Authorization: `Bearer ${bearer}` },
      }),
      deps,
    );
  return { fake, token, request, config };
}

Deno.test("JOB_SELECT selects exactly the columns the handler relies on", () => {
  assert.equal(JOB_SELECT, composedJobSelect());
});

Deno.test("reads and signs as the caller: one PostgREST and one Storage request", async () => {
  const { fake, token, request } = await setup((f) => {
    f.jobs = [jobRow(42, true)];
    f.missingObjects.add(`${ALICE}/42/thumbnail.jpg`);
  });
  const response = await request("?job_id=42");
  assert.equal(response.status, 200);
  const body = (await response.json()) as JobArtifactsResponse;
  assert.equal(body.job_id, 42);
  assert.equal(body.video?.original_filename, "talk.mp4");
  assert.equal(
    body.artifacts.vtt?.url,
    `${SUPABASE_URL}/storage/v1/object/sign/video-artifacts/${ALICE}/42/subtitles.vtt?token=t-${
      `${ALICE}/42/subtitles.vtt`.length
    }`,
  );
  assert.equal(body.artifacts.thumbnail, null);

  const [auth, rest, sign, ...more] = fake.seen;
  assert.equal(more.length, 0);
  assert.equal(auth.path, "/auth/v1/user");
  assert.equal(rest.path, "/rest/v1/video_jobs");
  assert.equal(rest.search.get("select"), JOB_SELECT.replace(/\s/g, ""));
  assert.equal(rest.search.get("id"), "eq.42");
  assert.equal(sign.method, "POST");
  assert.deepEqual(JSON.parse(sign.body), {
    expiresIn: 300,
    paths: [
      `${ALICE}/42/transcript.txt`,
      `${ALICE}/42/subtitles.vtt`,
      `${ALICE}/42/subtitles.srt`,
      `${ALICE}/42/thumbnail.jpg`,
    ],
  });
  // Every request runs as the caller: their token, the anon key, never a service role.
  for (const seen of fake.seen) {
    assert.equal(seen.authorization, `Bearer ${token}`);
    assert.equal(seen.apikey, ANON_KEY);
  }
});

Deno.test("a job PostgREST does not return (RLS) is 404 and nothing is signed", async () => {
  const { fake, request } = await setup();
  const response = await request("?job_id=44");
  assert.equal(response.status, 404);
  assert.equal(fake.seen.filter((s) => s.path.startsWith("/storage")).length, 0);
});

Deno.test("a job without results signs nothing", async () => {
  const { fake, request } = await setup((f) => (f.jobs = [jobRow(43, false)]));
  const body = (await (await request("?job_id=43")).json()) as JobArtifactsResponse;
  assert.equal(body.status, "PROCESSING");
  assert.equal(body.current_stage, "transcribe");
  assert.equal(body.metadata, null);
  assert.equal(fake.seen.filter((s) => s.path.startsWith("/storage")).length, 0);
});

Deno.test("a token Auth rejects is 401 and the database is never asked", async () => {
  const { fake, request } = await setup();
  const forged = await hs256Jwt(userClaims(ALICE), "not-the-secret-not-the-secret-not-the-secret");
  assert.equal((await request("?job_id=42", forged)).status, 401);
  assert.equal((await request("?job_id=42", "not-a-jwt")).status, 401);
  assert.equal(fake.seen.filter((s) => s.path.startsWith("/rest")).length, 0);
});

Deno.test("an expired token is 401", async () => {
  const { request } = await setup();
  const expired = await hs256Jwt(userClaims(ALICE, -60), SECRET);
  assert.equal((await request("?job_id=42", expired)).status, 401);
});

Deno.test("the anon key's token is not a user: 401", async () => {
  const anonClaims = { role: "anon", iss: "supabase", exp: Math.floor(Date.now() / 1000) + 60 };
  const anon = await hs256Jwt(anonClaims, SECRET);
  const { fake, request } = await setup((f) => f.validTokens.set(anon, anonClaims));
  assert.equal((await request("?job_id=42", anon)).status, 401);
  assert.equal(fake.seen.filter((s) => s.path.startsWith("/rest")).length, 0);
});

for (const [service, status] of [["auth", 503], ["rest", 500], ["storage", 500]] as const) {
  Deno.test(`${service} answering ${status} is 502 upstream_unavailable`, async () => {
    const { request } = await setup((f) => {
      f.jobs = [jobRow(42, true)];
      f.status[service] = status;
    });
    const response = await request("?job_id=42");
    assert.equal(response.status, 502);
    assert.equal(
      ((await response.json()) as { error: { code: string } }).error.code,
      "upstream_unavailable",
    );
  });
}

Deno.test("configFromEnv: Supabase Storage by default, GCS on request", async () => {
  const base = { SUPABASE_URL, SUPABASE_ANON_KEY: ANON_KEY };
  assert.deepEqual((await configFromEnv(base)).artifacts, {
    backend: "supabase",
    bucket: "video-artifacts",
  });
  assert.deepEqual((await configFromEnv({ ...base, ARTIFACTS_BUCKET: "results" })).artifacts, {
    backend: "supabase",
    bucket: "results",
  });
  await assert.rejects(configFromEnv({ SUPABASE_URL }), /SUPABASE_ANON_KEY/);
  await assert.rejects(configFromEnv({ SUPABASE_URL }), /SUPABASE_PUBLISHABLE_KEYS/);
  await assert.rejects(configFromEnv({ ...base, STORAGE_BACKEND: "gcs" }), /GCS_BUCKET_NAME/);
});

Deno.test("STORAGE_BACKEND=gcs signs server-side, after RLS showed the job", async () => {
  const { pem } = await rsaServiceAccountKey();
  const gcsConfig = await configFromEnv({
    SUPABASE_URL,
    SUPABASE_ANON_KEY: ANON_KEY,
    STORAGE_BACKEND: "gcs",
    GCS_BUCKET_NAME: "vproc-prod",
    GCS_SERVICE_ACCOUNT_JSON: JSON.stringify({
      client_email: "s@p.iam.gserviceaccount.com",
      private_key: pem,
    }),
  });
  const { fake, token } = await setup((f) => (f.jobs = [jobRow(42, true)]));
  const deps = { authenticate: supabaseAuthenticator({ ...gcsConfig, fetch: fake.fetch }) };
  const response = await handle(
    new Request(`${SUPABASE_URL}/functions/v1/job-artifacts?job_id=42`, {
      headers: { Authorization: `Bearer ${token}` },
    }),
    deps,
  );
  assert.equal(response.status, 200);
  const body = (await response.json()) as JobArtifactsResponse;
  // English speech: no English translation track to sign.
  assert.equal(body.artifacts.vtt_en, null);
  const signed = Object.values(body.artifacts).filter((artifact) => artifact !== null);
  assert.equal(signed.length, 4);
  for (const artifact of signed) {
    assert.match(
      artifact?.url ?? "",
      new RegExp(`^https://storage\\.googleapis\\.com/vproc-prod/video-artifacts/${ALICE}/42/`),
    );
    assert.match(artifact?.url ?? "", /X-Goog-Expires=300&/);
  }
  assert.equal(fake.seen.filter((s) => s.path.startsWith("/storage")).length, 0);
});
