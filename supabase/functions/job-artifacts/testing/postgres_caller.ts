/**
 * A Caller over a direct Postgres connection that does what Supabase does for one request:
 * verify the HS256 JWT, then run each read as PostgREST does (`set local role` +
 * `request.jwt.claims`) and sign only objects the Storage policies let the caller read.
 */
import type { Sql } from "postgres";
import {
  type Caller,
  type Deps,
  JOB_COLUMNS,
  type JobRecord,
  type JobRow,
  METADATA_COLUMNS,
  type MetadataRow,
  VIDEO_COLUMNS,
  type VideoRow,
} from "../handler.ts";

type Claims = Record<string, unknown> & { sub: string; role: string };

function base64urlDecode(part: string): Uint8Array<ArrayBuffer> {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(
    atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)),
    (c) => c.charCodeAt(0),
  );
}

/** The claims of an HS256 JWT signed with `secret` that has not expired, else null. */
export async function verifyHs256(token: string, secret: string): Promise<Claims | null> {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  let valid = false;
  let claims: Claims;
  try {
    valid = await crypto.subtle.verify(
      "HMAC",
      key,
      base64urlDecode(parts[2]),
      new TextEncoder().encode(`${parts[0]}.${parts[1]}`),
    );
    claims = JSON.parse(new TextDecoder().decode(base64urlDecode(parts[1])));
  } catch {
    return null;
  }
  if (!valid || typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now()) return null;
  return claims;
}

/** `Deps.authenticate` for tokens signed with the project's JWT secret. */
export function postgresAuthenticator(
  sql: Sql,
  jwtSecret: string,
  bucket: string,
): Deps["authenticate"] {
  return async (token) => {
    const claims = await verifyHs256(token, jwtSecret);
    if (claims === null || claims.role !== "authenticated" || typeof claims.sub !== "string") {
      return null;
    }
    return new PostgresCaller(sql, claims, bucket);
  };
}

export class PostgresCaller implements Caller {
  readonly userId: string;

  constructor(
    private readonly sql: Sql,
    private readonly claims: Claims,
    private readonly bucket: string,
  ) {
    this.userId = claims.sub;
  }

  /** Run `work` in one transaction as the caller, as PostgREST runs a request. */
  private asCaller<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    return this.sql.begin(async (tx) => {
      await tx`select set_config('role', ${this.claims.role}, true),
                      set_config('request.jwt.claims', ${JSON.stringify(this.claims)}, true)`;
      return await work(tx as unknown as Sql);
    }) as Promise<T>;
  }

  findJob(jobId: number): Promise<JobRecord | null> {
    return this.asCaller(async (tx) => {
      // to_jsonb renders values exactly as PostgREST's JSON does (bigint as number, ISO times).
      const [job] = await tx<{ row: JobRow }[]>`
        select to_jsonb(j) as row
        from (select ${tx([...JOB_COLUMNS])} from public.video_jobs where id = ${jobId}) as j`;
      if (job === undefined) return null;
      const [video] = await tx<{ row: VideoRow }[]>`
        select to_jsonb(v) as row
        from (select ${
        tx([...VIDEO_COLUMNS])
      } from public.videos where id = ${job.row.video_id}) as v`;
      const [metadata] = await tx<{ row: MetadataRow }[]>`
        select to_jsonb(m) as row
        from (select ${
        tx([...METADATA_COLUMNS])
      } from public.video_metadata where job_id = ${jobId}) as m`;
      return { job: job.row, video: video?.row ?? null, metadata: metadata?.row ?? null };
    });
  }

  signArtifacts(keys: readonly string[], expiresInSeconds: number): Promise<Map<string, string>> {
    return this.asCaller(async (tx) => {
      // Storage signs an object only if the caller may select it from storage.objects.
      const rows = await tx<{ name: string }[]>`
        select name from storage.objects
        where bucket_id = ${this.bucket} and name in ${tx([...keys])}`;
      return new Map(
        rows.map(({ name }) => [
          name,
          `http://storage.local/object/sign/${this.bucket}/${name}?expires_in=${expiresInSeconds}`,
        ]),
      );
    });
  }
}
