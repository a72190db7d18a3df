/**
 * job-artifacts: a caller's job, its results and signed artifact URLs, as one JSON document.
 * `handle` is pure over its ports (`Deps`, `Caller`); caller.ts adapts them to Supabase.
 */
import { preflight } from "../_shared/cors.ts";
import { bearerToken, errorResponse, jsonResponse } from "../_shared/http.ts";
import type { Tables } from "../../types/database.ts";
import type {
  ArtifactName,
  JobArtifactsMetadata,
  JobArtifactsResponse,
  SignedArtifact,
} from "./response.ts";

/** Every artifact a response reports, signed or null, in this order. */
export const ARTIFACT_NAMES = [
  "transcript",
  "vtt",
  "srt",
  "vtt_en",
  "srt_en",
  "thumbnail",
] as const satisfies readonly ArtifactName[];

/** Signed URLs live this long: enough to start a download, too short to share usefully. */
export const SIGNED_URL_TTL_SECONDS = 300;

export const JOB_COLUMNS = [
  "id",
  "video_id",
  "status",
  "progress",
  "current_stage",
  "error_code",
  "error_message",
  "cancel_requested",
  "attempts",
  "max_attempts",
  "processing_stages",
  "created_at",
  "started_at",
  "finished_at",
  "updated_at",
] as const satisfies readonly (keyof Tables<"video_jobs">)[];

export const VIDEO_COLUMNS = [
  "original_filename",
  "content_type",
  "size_bytes",
  "created_at",
] as const satisfies readonly (keyof Tables<"videos">)[];

export const METADATA_COLUMNS = [
  "title",
  "description",
  "tags",
  "transcript_text",
  "show_notes_text",
  "extracted_video_duration_seconds",
  "extracted_video_resolution",
  "extracted_video_format",
  "language",
  "language_probability",
  "created_at",
  "updated_at",
  "transcript_file_url",
  "subtitle_files_urls",
  "thumbnail_file_url",
] as const satisfies readonly (keyof Tables<"video_metadata">)[];

export type JobRow = Pick<Tables<"video_jobs">, (typeof JOB_COLUMNS)[number]>;
export type VideoRow = Pick<Tables<"videos">, (typeof VIDEO_COLUMNS)[number]>;
export type MetadataRow = Pick<Tables<"video_metadata">, (typeof METADATA_COLUMNS)[number]>;

/** What the caller may see of one job: the job, its video and its results (if any). */
export interface JobRecord {
  job: JobRow;
  video: VideoRow | null;
  metadata: MetadataRow | null;
}

/** An authenticated caller; everything it reads is filtered by RLS or storage policies. */
export interface Caller {
  readonly userId: string;
  /** The job with this id if the caller may see it, else null. */
  findJob(jobId: number): Promise<JobRecord | null>;
  /** Sign object keys of the artifacts store; keys that cannot be signed are left out. */
  signArtifacts(keys: readonly string[], expiresInSeconds: number): Promise<Map<string, string>>;
}

export interface Deps {
  /** Verify a bearer token; null when it is not a signed-in user's valid token. */
  authenticate(token: string): Promise<Caller | null>;
  signedUrlTtlSeconds?: number;
  now?: () => Date;
  /** Structured log sink; never receives tokens or signed URLs. */
  log?: (event: string, fields: Record<string, unknown>) => void;
}

/** A dependency (auth, database, storage) failed; the request may succeed later. */
export class UpstreamError extends Error {
  constructor(
    readonly service: "auth" | "database" | "storage",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "UpstreamError";
  }
}

const ALLOW = { Allow: "GET, OPTIONS" };
const CHALLENGE = { "WWW-Authenticate": 'Bearer realm="job-artifacts"' };

/** Answer one request. Never throws: every failure becomes a JSON error response. */
export async function handle(request: Request, deps: Deps): Promise<Response> {
  const log = deps.log ?? defaultLog;
  try {
    return await route(request, deps);
  } catch (error) {
    // The request boundary: anything unexpected is logged once and answered as a 5xx.
    if (error instanceof UpstreamError) {
      log("request.upstream_failed", { service: error.service, message: error.message });
      return errorResponse(
        502,
        "upstream_unavailable",
        `${error.service} is unavailable, try again`,
      );
    }
    log("request.failed", { message: error instanceof Error ? error.message : String(error) });
    return errorResponse(500, "internal", "internal error");
  }
}

async function route(request: Request, deps: Deps): Promise<Response> {
  if (request.method === "OPTIONS") return preflight();
  if (request.method !== "GET") {
    return errorResponse(405, "method_not_allowed", `${request.method} is not allowed`, ALLOW);
  }
  const token = bearerToken(request);
  if (token === null) {
    return errorResponse(401, "unauthorized", "missing Authorization: Bearer <token>", CHALLENGE);
  }
  const jobId = parseJobId(new URL(request.url).searchParams);
  if (jobId === null) {
    return errorResponse(400, "bad_request", "job_id must be one positive integer");
  }
  const caller = await deps.authenticate(token);
  if (caller === null) {
    return errorResponse(401, "unauthorized", "invalid or expired token", CHALLENGE);
  }
  // Another user's job and a job that does not exist look the same: 404, never 403.
  const record = await caller.findJob(jobId);
  if (record === null) {
    return errorResponse(404, "not_found", `job ${jobId} not found`);
  }
  const ttl = deps.signedUrlTtlSeconds ?? SIGNED_URL_TTL_SECONDS;
  const now = deps.now?.() ?? new Date();
  const artifacts = await signArtifacts(caller, record, ttl, now);
  return jsonResponse(toResponse(record, artifacts, ttl));
}

/** The one `job_id` query parameter as a safe positive integer, else null. */
export function parseJobId(params: URLSearchParams): number | null {
  const values = params.getAll("job_id");
  if (values.length !== 1 || !/^[1-9][0-9]{0,15}$/.test(values[0])) return null;
  const id = Number(values[0]);
  return Number.isSafeInteger(id) ? id : null;
}

/** The artifact object keys recorded in a metadata row, by artifact name. */
export function artifactKeys(metadata: MetadataRow | null): Partial<Record<ArtifactName, string>> {
  if (metadata === null) return {};
  const isObject = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === "object" && !Array.isArray(value);
  // {"vtt", "srt"} in the spoken language, translations nested by language: {"en": {…}}.
  const subtitleKey = (format: "vtt" | "srt", language?: "en"): string | undefined => {
    const subtitles = metadata.subtitle_files_urls;
    if (!isObject(subtitles)) return undefined;
    const track = language === undefined ? subtitles : subtitles[language];
    if (!isObject(track)) return undefined;
    const key = track[format];
    return typeof key === "string" ? key : undefined;
  };
  const keys: Partial<Record<ArtifactName, string>> = {
    transcript: metadata.transcript_file_url ?? undefined,
    vtt: subtitleKey("vtt"),
    srt: subtitleKey("srt"),
    vtt_en: subtitleKey("vtt", "en"),
    srt_en: subtitleKey("srt", "en"),
    thumbnail: metadata.thumbnail_file_url ?? undefined,
  };
  for (const name of ARTIFACT_NAMES) {
    if (keys[name] === undefined || keys[name] === "") delete keys[name];
  }
  return keys;
}

/**
 * Whether `key` lies in the caller's folder of this job (`<uid>/<job_id>/…`, no `.`/`..`
 * segments). The server-side GCS signer would sign any key, so this is its ownership check.
 */
export function isOwnArtifactKey(key: string, userId: string, jobId: number): boolean {
  const prefix = `${userId}/${jobId}/`;
  if (!key.startsWith(prefix) || key.length === prefix.length) return false;
  return key.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

async function signArtifacts(
  caller: Caller,
  record: JobRecord,
  ttl: number,
  now: Date,
): Promise<Record<ArtifactName, SignedArtifact | null>> {
  const keys = artifactKeys(record.metadata);
  const own = Object.values(keys).filter((key) =>
    isOwnArtifactKey(key, caller.userId, record.job.id)
  );
  const urls = own.length > 0 ? await caller.signArtifacts(own, ttl) : new Map<string, string>();
  const expiresAt = new Date(now.getTime() + ttl * 1000).toISOString();
  const result = {} as Record<ArtifactName, SignedArtifact | null>;
  for (const name of ARTIFACT_NAMES) {
    const key = keys[name];
    const url = key === undefined ? undefined : urls.get(key);
    result[name] = url === undefined ? null : { url, expires_at: expiresAt };
  }
  return result;
}

function toResponse(
  { job, video, metadata }: JobRecord,
  artifacts: Record<ArtifactName, SignedArtifact | null>,
  ttl: number,
): JobArtifactsResponse {
  let publicMetadata: JobArtifactsMetadata | null = null;
  if (metadata !== null) {
    const {
      transcript_file_url: _transcript,
      subtitle_files_urls: _subtitles,
      thumbnail_file_url: _thumbnail,
      ...rest
    } = metadata;
    publicMetadata = rest;
  }
  const { id, ...jobFields } = job;
  return {
    job_id: id,
    ...jobFields,
    video,
    metadata: publicMetadata,
    artifacts,
    expires_in: ttl,
  };
}

function defaultLog(event: string, fields: Record<string, unknown>): void {
  console.error(JSON.stringify({ event, function: "job-artifacts", ...fields }));
}
