/**
 * The Supabase side of job-artifacts: verifies the caller's JWT, reads through PostgREST as
 * the caller (RLS), and signs artifact URLs as the caller (Storage) or server-side (GCS).
 */
import { isAuthApiError, isAuthRetryableFetchError } from "@supabase/supabase-js";
import {
  createCallerClient,
  type SupabaseEnv,
  supabaseEnv,
  type VprocClient,
} from "../_shared/supabase.ts";
import { gcsObjectName, GcsUrlSigner } from "./gcs.ts";
import {
  type Caller,
  type Deps,
  JOB_COLUMNS,
  type JobRecord,
  METADATA_COLUMNS,
  UpstreamError,
  VIDEO_COLUMNS,
} from "./handler.ts";

/**
 * One PostgREST request for the job, its video and its metadata (both one-to-one embeds).
 * Written out literally so supabase-js can type the result; a test keeps it equal to the
 * column lists in handler.ts.
 */
export const JOB_SELECT =
  "id, video_id, status, progress, current_stage, error_code, error_message, cancel_requested, attempts, max_attempts, processing_stages, created_at, started_at, finished_at, updated_at, video:videos(original_filename, content_type, size_bytes, created_at), metadata:video_metadata(title, description, tags, transcript_text, show_notes_text, extracted_video_duration_seconds, extracted_video_resolution, extracted_video_format, language, language_probability, created_at, updated_at, transcript_file_url, subtitle_files_urls, thumbnail_file_url)";

/** JOB_SELECT as composed from the column lists the handler relies on. */
export function composedJobSelect(): string {
  return `${JOB_COLUMNS.join(", ")}, video:videos(${VIDEO_COLUMNS.join(", ")}), ` +
    `metadata:video_metadata(${METADATA_COLUMNS.join(", ")})`;
}

export type ArtifactStore =
  | { backend: "supabase"; bucket: string }
  | { backend: "gcs"; bucket: string; signer: GcsUrlSigner };

export interface CallerConfig {
  supabase: SupabaseEnv;
  artifacts: ArtifactStore;
  /** Replaces global fetch for every Supabase request (tests). */
  fetch?: typeof fetch;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Build the configuration from the function's environment and secrets:
 * SUPABASE_URL, SUPABASE_PUBLISHABLE_KEYS (or SUPABASE_ANON_KEY), SUPABASE_JWKS (optional),
 * ARTIFACTS_BUCKET (default `video-artifacts`),
 * STORAGE_BACKEND (`gcs`: GCS_BUCKET_NAME and GCS_SERVICE_ACCOUNT_JSON; anything else:
 * Supabase Storage). Throws when a required value is missing.
 */
export async function configFromEnv(env: Env): Promise<CallerConfig> {
  const supabase = supabaseEnv(env);
  const bucket = env.ARTIFACTS_BUCKET || "video-artifacts";
  if (env.STORAGE_BACKEND !== "gcs") {
    return { supabase, artifacts: { backend: "supabase", bucket } };
  }
  const gcsBucket = env.GCS_BUCKET_NAME;
  const key = env.GCS_SERVICE_ACCOUNT_JSON;
  if (!gcsBucket || !key) {
    throw new Error("STORAGE_BACKEND=gcs needs GCS_BUCKET_NAME and GCS_SERVICE_ACCOUNT_JSON");
  }
  const signer = await GcsUrlSigner.fromServiceAccountJson(key, gcsBucket);
  return { supabase, artifacts: { backend: "gcs", bucket, signer } };
}

/** `Deps.authenticate` backed by Supabase Auth. */
export function supabaseAuthenticator(config: CallerConfig): Deps["authenticate"] {
  return async (token: string) => {
    const client = createCallerClient(config.supabase, token, config.fetch);
    // The platform's verify_jwt gate is off for this function (config.toml): this is the
    // check. getClaims verifies asymmetric JWTs locally against the JWKS (SUPABASE_JWKS, else
    // Auth's /.well-known/jwks.json) and asks Auth (getUser) about symmetric ones.
    const jwks = config.supabase.jwks;
    const { data, error } = await client.auth.getClaims(token, jwks ? { jwks } : undefined);
    if (error) {
      if (isAuthRetryableFetchError(error) || (isAuthApiError(error) && error.status >= 500)) {
        throw new UpstreamError("auth", `verifying the token failed: ${error.message}`, {
          cause: error,
        });
      }
      return null;
    }
    const claims = data?.claims;
    if (!claims || typeof claims.sub !== "string" || claims.role !== "authenticated") {
      return null;
    }
    return new SupabaseCaller(client, claims.sub, config.artifacts);
  };
}

/** A signed-in user, reading through PostgREST and Storage with their own token. */
export class SupabaseCaller implements Caller {
  constructor(
    private readonly client: VprocClient,
    readonly userId: string,
    private readonly artifacts: ArtifactStore,
  ) {}

  async findJob(jobId: number): Promise<JobRecord | null> {
    const { data, error } = await this.client
      .from("video_jobs")
      .select(JOB_SELECT)
      .eq("id", jobId)
      .maybeSingle();
    if (error) {
      throw new UpstreamError("database", `reading job ${jobId} failed: ${error.message}`, {
        cause: error,
      });
    }
    if (data === null) return null;
    const { video, metadata, ...job } = data;
    return { job, video, metadata };
  }

  async signArtifacts(
    keys: readonly string[],
    expiresInSeconds: number,
  ): Promise<Map<string, string>> {
    if (this.artifacts.backend === "gcs") {
      const { bucket, signer } = this.artifacts;
      const now = new Date();
      const entries = await Promise.all(
        keys.map(async (key) =>
          [key, await signer.signedUrl(gcsObjectName(bucket, key), expiresInSeconds, now)] as const
        ),
      );
      return new Map(entries);
    }
    // Signed as the caller: Storage checks the "users can read artifacts in their own
    // folder" policy, so no service-role key is involved.
    const { data, error } = await this.client.storage
      .from(this.artifacts.bucket)
      .createSignedUrls([...keys], expiresInSeconds);
    if (error) {
      throw new UpstreamError("storage", `signing artifact URLs failed: ${error.message}`, {
        cause: error,
      });
    }
    const urls = new Map<string, string>();
    for (const item of data) {
      // A missing object (or one the caller may not read) comes back with its own error.
      if (item.error === null && item.path !== null && item.signedUrl !== null) {
        urls.set(item.path, item.signedUrl);
      }
    }
    return urls;
  }
}
