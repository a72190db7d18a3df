/**
 * handle() against the real migrated schema: RLS decides what a caller sees and the storage
 * policies decide what is signed. Needs VPROC_TS_DATABASE_URL (a migrated database; the
 * superuser connection seeds it); scripts/typecheck provides one.
 */
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import { handle } from "./handler.ts";
import type { JobArtifactsResponse } from "./response.ts";
import { hs256Jwt, userClaims } from "./testing/keys.ts";
import { postgresAuthenticator, PostgresCaller } from "./testing/postgres_caller.ts";

const DATABASE_URL = Deno.env.get("VPROC_TS_DATABASE_URL");
const SECRET = "local-test-jwt-secret-with-at-least-32-characters";
const BUCKET = "video-artifacts";

interface Tenant {
  userId: string;
  token: string;
  jobId: number;
}

async function createUser(sql: Sql): Promise<string> {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, aud, role, email)
            values (${id}, 'authenticated', 'authenticated', ${`${id}@example.test`})`;
  return id;
}

/** A user who uploaded one video (inserted as that user, so the trigger queues the job). */
async function tenant(sql: Sql): Promise<Tenant> {
  const userId = await createUser(sql);
  const claims = userClaims(userId);
  const [video] = await sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return await tx`insert into public.videos (original_filename, storage_path, content_type, size_bytes)
                    values ('talk.mp4', ${`${userId}/talk.mp4`}, 'video/mp4', 2048)
                    returning id`;
  });
  const [job] = await sql`select id::int as id from public.video_jobs where video_id = ${video.id}`;
  return { userId, token: await hs256Jwt(claims, SECRET), jobId: job.id };
}

/** What a finished run leaves: COMPLETED, metadata with artifact keys, three of four objects. */
async function complete(sql: Sql, t: Tenant): Promise<void> {
  const prefix = `${t.userId}/${t.jobId}`;
  await sql`update public.video_jobs
            set status = 'COMPLETED', progress = 1, finished_at = now(), attempts = 1
            where id = ${t.jobId}`;
  await sql`insert into public.video_metadata
              (job_id, owner_id, title, tags, transcript_text, transcript_file_url,
               subtitle_files_urls, thumbnail_file_url, extracted_video_duration_seconds,
               extracted_video_resolution, extracted_video_format)
            values (${t.jobId}, ${t.userId}, 'A talk', '{queues,postgres}', 'hello',
                    ${`${prefix}/transcript.txt`},
                    ${sql.json({ vtt: `${prefix}/subtitles.vtt`, srt: `${prefix}/subtitles.srt` })},
                    ${`${prefix}/thumbnail.jpg`}, 12.5, '1280x720', 'mp4')`;
  for (const name of ["transcript.txt", "subtitles.vtt", "subtitles.srt"]) {
    await sql`insert into storage.objects (bucket_id, name, owner_id)
              values (${BUCKET}, ${`${prefix}/${name}`}, ${t.userId})`;
  }
}

function dbTest(name: string, fn: (sql: Sql) => Promise<void>): void {
  Deno.test({
    name,
    ignore: DATABASE_URL === undefined,
    fn: async () => {
      const sql = postgres(DATABASE_URL!, { max: 2, onnotice: () => {} });
      try {
        await fn(sql);
      } finally {
        await sql.end();
      }
    },
  });
}

function request(sql: Sql, jobId: number | string, token: string): Promise<Response> {
  return handle(
    new Request(`http://localhost/functions/v1/job-artifacts?job_id=${jobId}`, {
      headers: { Authorization: `Bearer ${token}` },
    }),
    { authenticate: postgresAuthenticator(sql, SECRET, BUCKET), log: () => {} },
  );
}

dbTest("the owner reads a completed job, its metadata and signed artifacts", async (sql) => {
  const alice = await tenant(sql);
  await complete(sql, alice);
  const response = await request(sql, alice.jobId, alice.token);
  assert.equal(response.status, 200);
  const body = (await response.json()) as JobArtifactsResponse;
  assert.equal(body.job_id, alice.jobId);
  assert.equal(body.status, "COMPLETED");
  assert.equal(body.progress, 1);
  assert.equal(body.attempts, 1);
  assert.equal(typeof body.video_id, "string");
  assert.ok(!Number.isNaN(Date.parse(body.created_at)));
  assert.deepEqual(body.video && { ...body.video, created_at: "x" }, {
    original_filename: "talk.mp4",
    content_type: "video/mp4",
    size_bytes: 2048,
    created_at: "x",
  });
  assert.equal(body.metadata?.title, "A talk");
  assert.deepEqual(body.metadata?.tags, ["queues", "postgres"]);
  assert.equal(body.metadata?.extracted_video_duration_seconds, 12.5);
  const prefix = `${alice.userId}/${alice.jobId}`;
  assert.equal(
    body.artifacts.vtt?.url,
    `http://storage.local/object/sign/${BUCKET}/${prefix}/subtitles.vtt?expires_in=300`,
  );
  assert.ok(body.artifacts.transcript && body.artifacts.srt);
  // The thumbnail's object was never uploaded.
  assert.equal(body.artifacts.thumbnail, null);
});

dbTest("another user's job is 404, the same as a job that does not exist", async (sql) => {
  const alice = await tenant(sql);
  const bob = await tenant(sql);
  await complete(sql, bob);
  const theirs = await request(sql, bob.jobId, alice.token);
  assert.equal(theirs.status, 404);
  const missing = await request(sql, 9_000_000_000, alice.token);
  assert.equal(missing.status, 404);
  const [a, b] = [await theirs.json(), await missing.json()];
  assert.equal(a.error.code, "not_found");
  assert.equal(b.error.code, "not_found");
});

dbTest("a pending job: status and progress, no metadata, no artifacts", async (sql) => {
  const bob = await tenant(sql);
  const body = (await (await request(sql, bob.jobId, bob.token)).json()) as JobArtifactsResponse;
  assert.equal(body.status, "PENDING");
  assert.equal(body.progress, 0);
  assert.equal(body.metadata, null);
  assert.deepEqual(body.artifacts, {
    transcript: null,
    vtt: null,
    srt: null,
    vtt_en: null,
    srt_en: null,
    thumbnail: null,
  });
});

dbTest("a job cancelled through cancel_video_job reads as CANCELLED", async (sql) => {
  const carol = await tenant(sql);
  await sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${
      JSON.stringify(userClaims(carol.userId))
    }, true)`;
    await tx`select public.cancel_video_job(${carol.jobId})`;
  });
  const body =
    (await (await request(sql, carol.jobId, carol.token)).json()) as JobArtifactsResponse;
  assert.equal(body.status, "CANCELLED");
  assert.equal(body.error_code, "cancelled");
  assert.ok(body.finished_at);
});

dbTest("a token not signed with the project's secret is 401", async (sql) => {
  const alice = await tenant(sql);
  const forged = await hs256Jwt(userClaims(alice.userId), "some-other-secret-some-other-secret!");
  assert.equal((await request(sql, alice.jobId, forged)).status, 401);
});

dbTest("storage policies alone keep a caller from signing another user's objects", async (sql) => {
  const alice = await tenant(sql);
  const bob = await tenant(sql);
  await complete(sql, alice);
  await complete(sql, bob);
  const asAlice = new PostgresCaller(sql, {
    ...userClaims(alice.userId),
    sub: alice.userId,
    role: "authenticated",
  }, BUCKET);
  const own = `${alice.userId}/${alice.jobId}/transcript.txt`;
  const theirs = `${bob.userId}/${bob.jobId}/transcript.txt`;
  const urls = await asAlice.signArtifacts([own, theirs], 60);
  assert.deepEqual([...urls.keys()], [own]);
});
