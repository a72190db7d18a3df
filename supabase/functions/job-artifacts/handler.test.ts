/** handle() with fake ports: every status code, the response shape and the ownership rules. */
import assert from "node:assert/strict";
import {
  artifactKeys,
  type Caller,
  type Deps,
  handle,
  isOwnArtifactKey,
  type JobRecord,
  type MetadataRow,
  parseJobId,
  UpstreamError,
} from "./handler.ts";
import type { JobArtifactsError, JobArtifactsResponse } from "./response.ts";

const ALICE = "00000000-0000-4000-8000-00000000000a";
const BOB = "00000000-0000-4000-8000-00000000000b";
const NOW = new Date("2026-11-27T12:00:00.000Z");
const URL_BASE = "https://functions.test/job-artifacts";

function metadataFor(
  owner: string,
  jobId: number,
  overrides: Partial<MetadataRow> = {},
): MetadataRow {
  return {
    title: "A talk",
    description: "About queues.",
    tags: ["queues", "postgres"],
    transcript_text: "hello world",
    show_notes_text: "- intro",
    extracted_video_duration_seconds: 12.5,
    extracted_video_resolution: "1280x720",
    extracted_video_format: "mov,mp4,m4a,3gp,3g2,mj2",
    language: "en",
    language_probability: 0.97,
    created_at: "2026-11-27T11:59:00+00:00",
    updated_at: "2026-11-27T11:59:00+00:00",
    transcript_file_url: `${owner}/${jobId}/transcript.txt`,
    subtitle_files_urls: {
      vtt: `${owner}/${jobId}/subtitles.vtt`,
      srt: `${owner}/${jobId}/subtitles.srt`,
    },
    thumbnail_file_url: `${owner}/${jobId}/thumbnail.jpg`,
    ...overrides,
  };
}

function recordFor(
  owner: string,
  jobId: number,
  status: JobRecord["job"]["status"],
  metadata: MetadataRow | null,
): JobRecord & { owner: string } {
  return {
    owner,
    job: {
      id: jobId,
      video_id: `00000000-0000-4000-8000-0000000000${jobId}`,
      status,
      progress: status === "COMPLETED" ? 1 : 0.25,
      current_stage: status === "PROCESSING" ? "transcribe" : null,
      error_code: status === "FAILED" ? "invalid_media" : null,
      error_message: status === "FAILED" ? "no video stream" : null,
      cancel_requested: false,
      attempts: 1,
      max_attempts: 3,
      processing_stages: { probe: { status: "completed", duration_ms: 12 } },
      created_at: "2026-11-27T11:58:00+00:00",
      started_at: "2026-11-27T11:58:01+00:00",
      finished_at: status === "COMPLETED" ? "2026-11-27T11:59:00+00:00" : null,
      updated_at: "2026-11-27T11:59:00+00:00",
    },
    video: {
      original_filename: "talk.mp4",
      content_type: "video/mp4",
      size_bytes: 1234,
      created_at: "2026-11-27T11:58:00+00:00",
    },
    metadata,
  };
}

/** A fake world: jobs with owners, objects that exist, and a record of calls. */
class World {
  jobs = new Map<number, JobRecord & { owner: string }>();
  objects = new Set<string>();
  tokens = new Map<string, string>([["alice-token", ALICE], ["bob-token", BOB]]);
  authenticateCalls = 0;
  signCalls: { keys: readonly string[]; ttl: number }[] = [];
  logs: { event: string; fields: Record<string, unknown> }[] = [];
  fail: { authenticate?: Error; findJob?: Error; sign?: Error } = {};

  add(record: JobRecord & { owner: string }): this {
    this.jobs.set(record.job.id, record);
    for (const key of Object.values(artifactKeys(record.metadata))) this.objects.add(key);
    return this;
  }

  deps(extra: Partial<Deps> = {}): Deps {
    return {
      authenticate: (token) => {
        this.authenticateCalls++;
        if (this.fail.authenticate) return Promise.reject(this.fail.authenticate);
        const userId = this.tokens.get(token);
        return Promise.resolve(userId === undefined ? null : this.caller(userId));
      },
      now: () => NOW,
      log: (event, fields) => this.logs.push({ event, fields }),
      ...extra,
    };
  }

  caller(userId: string): Caller {
    return {
      userId,
      findJob: (jobId) => {
        if (this.fail.findJob) return Promise.reject(this.fail.findJob);
        const record = this.jobs.get(jobId);
        // RLS: other users' jobs are invisible.
        if (record === undefined || record.owner !== userId) return Promise.resolve(null);
        const { owner: _owner, ...visible } = record;
        return Promise.resolve(visible);
      },
      signArtifacts: (keys, ttl) => {
        this.signCalls.push({ keys, ttl });
        if (this.fail.sign) return Promise.reject(this.fail.sign);
        const urls = new Map<string, string>();
        for (const key of keys) {
          // Storage policy: owners read their own folder only.
          if (this.objects.has(key) && key.startsWith(`${userId}/`)) {
            urls.set(key, `https://storage.test/sign/${key}?ttl=${ttl}`);
          }
        }
        return Promise.resolve(urls);
      },
    };
  }
}

function get(query: string, token?: string, init: RequestInit = {}): Request {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set("Authorization", `Bearer ${token}`);
  return new Request(`${URL_BASE}${query}`, { method: "GET", ...init, headers });
}

async function errorOf(response: Response): Promise<JobArtifactsError["error"]> {
  const body = (await response.json()) as JobArtifactsError;
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message"]);
  return body.error;
}

function assertCors(response: Response): void {
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  assert.match(response.headers.get("Access-Control-Allow-Headers") ?? "", /authorization/);
  assert.match(response.headers.get("Access-Control-Allow-Headers") ?? "", /apikey/);
}

const world = () =>
  new World()
    .add(recordFor(ALICE, 42, "COMPLETED", metadataFor(ALICE, 42)))
    .add(recordFor(ALICE, 43, "PENDING", null))
    .add(recordFor(BOB, 44, "COMPLETED", metadataFor(BOB, 44)));

Deno.test("OPTIONS answers the preflight without authenticating", async () => {
  const w = world();
  const response = await handle(
    new Request(`${URL_BASE}?job_id=42`, { method: "OPTIONS" }),
    w.deps(),
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "ok");
  assertCors(response);
  assert.equal(response.headers.get("Access-Control-Allow-Methods"), "GET, OPTIONS");
  assert.equal(w.authenticateCalls, 0);
});

for (const method of ["POST", "PUT", "PATCH", "DELETE", "HEAD"]) {
  Deno.test(`${method} is 405 with Allow`, async () => {
    const w = world();
    const response = await handle(get("?job_id=42", "alice-token", { method }), w.deps());
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("Allow"), "GET, OPTIONS");
    assertCors(response);
    if (method !== "HEAD") assert.equal((await errorOf(response)).code, "method_not_allowed");
    assert.equal(w.authenticateCalls, 0);
  });
}

Deno.test("no bearer token is 401 without asking Auth", async () => {
  const w = world();
  const variants: Record<string, string>[] = [
    {},
    { Authorization: "Basic YWxpY2U6cHc=" },
    { Authorization: "Bearer" },
  ];
  for (const headers of variants) {
    const response = await handle(get("?job_id=42", undefined, { headers }), w.deps());
    assert.equal(response.status, 401);
    assert.match(response.headers.get("WWW-Authenticate") ?? "", /^Bearer/);
    assertCors(response);
    assert.equal((await errorOf(response)).code, "unauthorized");
  }
  assert.equal(w.authenticateCalls, 0);
});

Deno.test("a token Auth rejects is 401", async () => {
  const response = await handle(get("?job_id=42", "forged-token"), world().deps());
  assert.equal(response.status, 401);
  assert.equal((await errorOf(response)).code, "unauthorized");
});

Deno.test("a bad job_id is 400", async () => {
  const bad = [
    "",
    "?job_id=",
    "?job_id=abc",
    "?job_id=0",
    "?job_id=-1",
    "?job_id=1.5",
    "?job_id=01",
    "?job_id=1e3",
    "?job_id=%2042",
    "?job_id=99999999999999999999",
    "?job_id=42&job_id=43",
    "?id=42",
  ];
  for (const query of bad) {
    const response = await handle(get(query, "alice-token"), world().deps());
    assert.equal(response.status, 400, query);
    assertCors(response);
    assert.equal((await errorOf(response)).code, "bad_request");
  }
});

Deno.test("another user's job is 404, exactly like a job that does not exist", async () => {
  const w = world();
  const theirs = await handle(get("?job_id=44", "alice-token"), w.deps());
  const missing = await handle(get("?job_id=4444", "alice-token"), w.deps());
  assert.equal(theirs.status, 404);
  assert.equal(missing.status, 404);
  assertCors(theirs);
  const a = await errorOf(theirs);
  const b = await errorOf(missing);
  assert.equal(a.code, "not_found");
  assert.equal(a.message.replace("44", "N"), b.message.replace("4444", "N"));
  assert.equal(w.signCalls.length, 0);
});

Deno.test("a completed job: status, metadata and a signed URL for every artifact", async () => {
  const w = world();
  const response = await handle(get("?job_id=42", "alice-token"), w.deps());
  assert.equal(response.status, 200);
  assertCors(response);
  assert.match(response.headers.get("Content-Type") ?? "", /^application\/json/);
  assert.equal(response.headers.get("Cache-Control"), "no-store");
  const body = (await response.json()) as JobArtifactsResponse;
  assert.deepEqual(Object.keys(body).sort(), [
    "artifacts",
    "attempts",
    "cancel_requested",
    "created_at",
    "current_stage",
    "error_code",
    "error_message",
    "expires_in",
    "finished_at",
    "job_id",
    "max_attempts",
    "metadata",
    "processing_stages",
    "progress",
    "started_at",
    "status",
    "updated_at",
    "video",
    "video_id",
  ]);
  assert.equal(body.job_id, 42);
  assert.equal(body.status, "COMPLETED");
  assert.equal(body.progress, 1);
  assert.equal(body.expires_in, 300);
  assert.deepEqual(body.video, {
    original_filename: "talk.mp4",
    content_type: "video/mp4",
    size_bytes: 1234,
    created_at: "2026-11-27T11:58:00+00:00",
  });
  // Object keys never leave the function: they become signed URLs.
  assert.deepEqual(Object.keys(body.metadata ?? {}).sort(), [
    "created_at",
    "description",
    "extracted_video_duration_seconds",
    "extracted_video_format",
    "extracted_video_resolution",
    "language",
    "language_probability",
    "show_notes_text",
    "tags",
    "title",
    "transcript_text",
    "updated_at",
  ]);
  assert.equal(body.metadata?.extracted_video_resolution, "1280x720");
  const expiresAt = "2026-11-27T12:05:00.000Z";
  assert.deepEqual(body.artifacts, {
    transcript: {
      url: `https://storage.test/sign/${ALICE}/42/transcript.txt?ttl=300`,
      expires_at: expiresAt,
    },
    vtt: {
      url: `https://storage.test/sign/${ALICE}/42/subtitles.vtt?ttl=300`,
      expires_at: expiresAt,
    },
    srt: {
      url: `https://storage.test/sign/${ALICE}/42/subtitles.srt?ttl=300`,
      expires_at: expiresAt,
    },
    vtt_en: null,
    srt_en: null,
    thumbnail: {
      url: `https://storage.test/sign/${ALICE}/42/thumbnail.jpg?ttl=300`,
      expires_at: expiresAt,
    },
  });
  // One signing call for all four artifacts.
  assert.equal(w.signCalls.length, 1);
  assert.equal(w.signCalls[0].keys.length, 4);
});

Deno.test("a pending job has no metadata and no artifacts, and signs nothing", async () => {
  const w = world();
  const response = await handle(get("?job_id=43", "alice-token"), w.deps());
  assert.equal(response.status, 200);
  const body = (await response.json()) as JobArtifactsResponse;
  assert.equal(body.status, "PENDING");
  assert.equal(body.progress, 0.25);
  assert.equal(body.metadata, null);
  assert.deepEqual(body.artifacts, {
    transcript: null,
    vtt: null,
    srt: null,
    vtt_en: null,
    srt_en: null,
    thumbnail: null,
  });
  assert.equal(w.signCalls.length, 0);
});

Deno.test("a failed job reports its error_code and error_message", async () => {
  const w = world().add(recordFor(ALICE, 45, "FAILED", null));
  const body = (await (await handle(get("?job_id=45", "alice-token"), w.deps()))
    .json()) as JobArtifactsResponse;
  assert.equal(body.status, "FAILED");
  assert.equal(body.error_code, "invalid_media");
  assert.equal(body.error_message, "no video stream");
});

Deno.test("an artifact whose object is missing is null; the others are signed", async () => {
  const w = world();
  w.objects.delete(`${ALICE}/42/thumbnail.jpg`);
  const body = (await (await handle(get("?job_id=42", "alice-token"), w.deps()))
    .json()) as JobArtifactsResponse;
  assert.equal(body.artifacts.thumbnail, null);
  assert.ok(body.artifacts.transcript?.url.includes("transcript.txt"));
});

Deno.test("keys outside the caller's folder for this job are never signed", async () => {
  const w = world().add(
    recordFor(
      ALICE,
      46,
      "COMPLETED",
      metadataFor(ALICE, 46, {
        transcript_file_url: `${BOB}/44/transcript.txt`,
        thumbnail_file_url: `${ALICE}/42/thumbnail.jpg`,
        subtitle_files_urls: { vtt: `${ALICE}/46/../../${BOB}/44/subtitles.vtt`, srt: 7 },
      }),
    ),
  );
  const body = (await (await handle(get("?job_id=46", "alice-token"), w.deps()))
    .json()) as JobArtifactsResponse;
  assert.deepEqual(body.artifacts, {
    transcript: null,
    vtt: null,
    srt: null,
    vtt_en: null,
    srt_en: null,
    thumbnail: null,
  });
  assert.equal(w.signCalls.length, 0);
});

Deno.test("a custom URL lifetime is passed to the signer and reported", async () => {
  const w = world();
  const response = await handle(
    get("?job_id=42", "alice-token"),
    w.deps({ signedUrlTtlSeconds: 60 }),
  );
  const body = (await response.json()) as JobArtifactsResponse;
  assert.equal(body.expires_in, 60);
  assert.equal(body.artifacts.srt?.expires_at, "2026-11-27T12:01:00.000Z");
  assert.equal(w.signCalls[0].ttl, 60);
});

for (const where of ["authenticate", "findJob", "sign"] as const) {
  Deno.test(`an unavailable dependency in ${where} is 502`, async () => {
    const w = world();
    const service = where === "authenticate"
      ? "auth"
      : where === "findJob"
      ? "database"
      : "storage";
    w.fail[where] = new UpstreamError(service, "connection refused");
    const response = await handle(get("?job_id=42", "alice-token"), w.deps());
    assert.equal(response.status, 502);
    assertCors(response);
    const error = await errorOf(response);
    assert.equal(error.code, "upstream_unavailable");
    assert.match(error.message, new RegExp(service));
    assert.equal(w.logs[0].event, "request.upstream_failed");
  });
}

Deno.test("an unexpected error is 500 and its details stay in the log", async () => {
  const w = world();
  w.fail.findJob = new TypeError("secret internals");
  const response = await handle(get("?job_id=42", "alice-token"), w.deps());
  assert.equal(response.status, 500);
  assertCors(response);
  const error = await errorOf(response);
  assert.deepEqual(error, { code: "internal", message: "internal error" });
  assert.equal(w.logs[0].event, "request.failed");
  assert.equal(w.logs[0].fields.message, "secret internals");
});

Deno.test("the bearer scheme is case-insensitive", async () => {
  const response = await handle(
    get("?job_id=42", undefined, { headers: { Authorization: "bearer alice-token" } }),
    world().deps(),
  );
  assert.equal(response.status, 200);
});

Deno.test("parseJobId accepts one safe positive integer", () => {
  const parse = (q: string) => parseJobId(new URLSearchParams(q));
  assert.equal(parse("job_id=1"), 1);
  assert.equal(parse("job_id=9007199254740991"), 9007199254740991);
  assert.equal(parse("job_id=9007199254740992"), null);
  assert.equal(parse("job_id=+1"), null);
});

Deno.test("artifactKeys reads the *_url columns and the subtitle map", () => {
  assert.deepEqual(artifactKeys(null), {});
  assert.deepEqual(
    artifactKeys(
      metadataFor(ALICE, 1, {
        transcript_file_url: null,
        thumbnail_file_url: "",
        subtitle_files_urls: ["not", "an", "object"],
      }),
    ),
    {},
  );
  assert.deepEqual(
    artifactKeys(metadataFor(ALICE, 1, { subtitle_files_urls: { vtt: "a/1/s.vtt" } })),
    {
      transcript: `${ALICE}/1/transcript.txt`,
      vtt: "a/1/s.vtt",
      thumbnail: `${ALICE}/1/thumbnail.jpg`,
    },
  );
});

Deno.test("English subtitles of non-English speech are signed beside the original track", () => {
  const prefix = `${ALICE}/7`;
  const keys = artifactKeys(
    metadataFor(ALICE, 7, {
      language: "es",
      subtitle_files_urls: {
        vtt: `${prefix}/subtitles.vtt`,
        srt: `${prefix}/subtitles.srt`,
        en: { vtt: `${prefix}/subtitles.en.vtt`, srt: `${prefix}/subtitles.en.srt` },
      },
    }),
  );
  assert.equal(keys.vtt, `${prefix}/subtitles.vtt`);
  assert.equal(keys.vtt_en, `${prefix}/subtitles.en.vtt`);
  assert.equal(keys.srt_en, `${prefix}/subtitles.en.srt`);
  const malformed = artifactKeys(
    metadataFor(ALICE, 7, { subtitle_files_urls: { vtt: "a", en: "not an object" } }),
  );
  assert.equal(malformed.vtt_en, undefined);
});

Deno.test("isOwnArtifactKey", () => {
  assert.ok(isOwnArtifactKey(`${ALICE}/42/thumbnail.jpg`, ALICE, 42));
  assert.ok(!isOwnArtifactKey(`${ALICE}/420/thumbnail.jpg`, ALICE, 42));
  assert.ok(!isOwnArtifactKey(`${ALICE}/42/`, ALICE, 42));
  assert.ok(!isOwnArtifactKey(`${ALICE}/42//x`, ALICE, 42));
  assert.ok(!isOwnArtifactKey(`${ALICE}/42/../43/x`, ALICE, 42));
  assert.ok(!isOwnArtifactKey(`${BOB}/42/thumbnail.jpg`, ALICE, 42));
});
