/**
 * The supabase-js side of vproc: upload a video, insert its row, follow its job over
 * Realtime (private Broadcast), and fetch results with signed artifact URLs from the
 * `job-artifacts` function.
 */
import type { RealtimeSystemPayload, SupabaseClient } from "@supabase/supabase-js";
import { Upload } from "tus-js-client";
import type { Database, Tables } from "../../../supabase/types/database.ts";
import type {
  JobArtifactsError,
  JobArtifactsResponse,
} from "../../../supabase/functions/job-artifacts/response.ts";

export type VprocClient = SupabaseClient<Database>;
export type Job = Tables<"video_jobs">;

/** What the job list shows: the job's live fields and the uploaded file's name. */
export const JOB_LIST_SELECT =
  "id, video_id, status, progress, current_stage, error_code, error_message, cancel_requested, created_at, updated_at, video:videos(original_filename)";

export type JobSummary = Pick<
  Job,
  | "id"
  | "video_id"
  | "status"
  | "progress"
  | "current_stage"
  | "error_code"
  | "error_message"
  | "cancel_requested"
  | "created_at"
  | "updated_at"
> & { video: { original_filename: string | null } | null };

/** Letters NFKD leaves whole that have a usual ASCII spelling. */
const ASCII_SPELLINGS: Record<string, string> = {
  ß: "ss", ẞ: "SS", æ: "ae", Æ: "AE", œ: "oe", Œ: "OE", ø: "o", Ø: "O", đ: "d", Đ: "D",
  ð: "d", Ð: "D", ł: "l", Ł: "L", þ: "th", Þ: "Th", ı: "i",
};

function asciiLetters(text: string): string {
  return [...text].map((c) => ASCII_SPELLINGS[c] ?? c).join("").normalize("NFKD")
    .replace(/[^\x00-\x7f]/g, "");
}

/**
 * An object name Supabase Storage accepts: Storage refuses keys outside its S3-safe ASCII set
 * (`InvalidKey`), so accents are dropped, other scripts removed, and a name with nothing
 * readable left becomes `video` (keeping its extension). The same rule as `vproc submit`'s
 * `safe_object_name`; the user's own name goes into `original_filename`.
 */
export function safeObjectName(fileName: string): string {
  const base = fileName.split("/").pop() ?? "";
  const dot = base.lastIndexOf(".");
  const hasExt = dot > 0 && base.slice(0, dot).replace(/\./g, "") !== "";
  const ext = hasExt ? asciiLetters(base.slice(dot + 1)).replace(/[^A-Za-z0-9]+/g, "").slice(0, 16) : "";
  let stem = asciiLetters(hasExt ? base.slice(0, dot) : base)
    .replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").replace(/\.+$/, "");
  if (stem.replace(/[_-]/g, "") === "") stem = "video";
  stem = stem.slice(0, ext ? 200 - ext.length - 1 : 200);
  return ext ? `${stem}.${ext}` : stem;
}

/** A storage key in the user's folder: `<uid>/<random>/<safe name>` (the policies require `<uid>/`). */
export function storagePathFor(userId: string, fileName: string): string {
  return `${userId}/${crypto.randomUUID()}/${safeObjectName(fileName)}`;
}

/** The project a client talks to: what `createClient` was given. */
export interface SupabaseProject {
  url: string;
  /** The publishable (or legacy anon) key; sent as `apikey`. */
  apiKey: string;
}

/** Supabase Storage takes resumable uploads in chunks of exactly 6 MiB. */
export const RESUMABLE_CHUNK_BYTES = 6 * 1024 * 1024;

/**
 * Upload `file` to the `videos` bucket and insert its `videos` row; the database queues the
 * job in the same transaction as the insert. Returns the new job. Files above 6 MiB go as a
 * resumable (TUS) upload, which survives dropped connections; smaller ones as one request.
 */
export async function submitVideo(
  supabase: VprocClient,
  project: SupabaseProject,
  userId: string,
  file: File,
  onProgress?: (fraction: number) => void,
): Promise<JobSummary> {
  const storagePath = storagePathFor(userId, file.name);
  const contentType = file.type || "video/mp4";
  if (file.size > RESUMABLE_CHUNK_BYTES) {
    await uploadResumable(supabase, project, "videos", storagePath, file, contentType, onProgress);
  } else {
    const upload = await supabase.storage.from("videos").upload(storagePath, file, {
      contentType,
      upsert: false,
    });
    if (upload.error) throw new Error(`upload failed: ${upload.error.message}`);
  }

  // uploader_user_id defaults to auth.uid(); RLS refuses a storage_path outside <uid>/.
  const video = await supabase
    .from("videos")
    .insert({
      original_filename: file.name,
      storage_path: storagePath,
      content_type: file.type || null,
      size_bytes: file.size,
    })
    .select("id")
    .single();
  if (video.error) throw new Error(`saving the video failed: ${video.error.message}`);

  const job = await supabase
    .from("video_jobs")
    .select(JOB_LIST_SELECT)
    .eq("video_id", video.data.id)
    .single();
  if (job.error) throw new Error(`reading the job failed: ${job.error.message}`);
  return job.data;
}

/**
 * Upload through Storage's TUS endpoint with tus-js-client, as Supabase's resumable-upload
 * guide does: 6 MiB chunks, retries that resume from the server's offset, and the current
 * access token on every request (a long upload can outlive a token; getSession refreshes it).
 */
export async function uploadResumable(
  supabase: VprocClient,
  project: SupabaseProject,
  bucket: string,
  objectName: string,
  file: File,
  contentType: string,
  onProgress?: (fraction: number) => void,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const upload = new Upload(file, {
      endpoint: `${project.url.replace(/\/+$/, "")}/storage/v1/upload/resumable`,
      retryDelays: [0, 3000, 5000, 10000, 20000],
      headers: { apikey: project.apiKey, "x-upsert": "false" },
      uploadDataDuringCreation: true,
      removeFingerprintOnSuccess: true,
      metadata: { bucketName: bucket, objectName, contentType, cacheControl: "3600" },
      chunkSize: RESUMABLE_CHUNK_BYTES,
      onBeforeRequest: async (request) => {
        const { data } = await supabase.auth.getSession();
        if (!data.session) throw new Error("signed out during the upload");
        request.setHeader("authorization", `Bearer ${data.session.access_token}`);
      },
      onProgress: (sent, total) => onProgress?.(total ? sent / total : 0),
      onError: (error) => reject(new Error(`upload failed: ${error.message}`)),
      onSuccess: () => resolve(),
    });
    // Continue an upload of the same file that an earlier page load left unfinished.
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }, reject);
  });
}

/** The caller's most recent jobs (RLS returns only theirs). */
export async function listJobs(supabase: VprocClient, limit = 20): Promise<JobSummary[]> {
  const { data, error } = await supabase
    .from("video_jobs")
    .select(JOB_LIST_SELECT)
    .order("created_at", { ascending: false })
    .limit(limit);
  if (error) throw new Error(`listing jobs failed: ${error.message}`);
  return data;
}

/**
 * What the database broadcasts on the private channel `jobs:<owner_id>` for each job event
 * (migration 20261201110000_create_job_broadcasts): `job_updated` on creation, every status
 * and stage change and each 5 % of progress (at most one per 2 s); `job_deleted` when the job
 * goes. Only these fields: merge them into what you show, never replace a row with them.
 */
export type JobEvent = Pick<
  Job,
  "id" | "video_id" | "status" | "current_stage" | "progress" | "error_code" | "updated_at"
>;
export type JobDeletedEvent = Pick<Job, "id" | "video_id">;

export const TERMINAL_STATUSES: readonly Job["status"][] = ["COMPLETED", "FAILED", "CANCELLED"];

export function isTerminal(status: Job["status"]): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export interface JobEventHandlers {
  onEvent: (event: JobEvent) => void;
  onDeleted: (event: JobDeletedEvent) => void;
  /**
   * Read the current state (e.g. `listJobs`). Called once Realtime confirms the channel, after
   * every rejoin (events sent while the socket was down are gone) and every `backstopMs`.
   */
  resync: () => void;
  onError: (error: Error) => void;
}

/** How long to wait for Realtime's "Replication connection established" before reading anyway. */
const READY_GRACE_MS = 10_000;

/**
 * Follow the user's jobs on their private channel `jobs:<userId>`. Realtime Authorization
 * (the policies on realtime.messages) lets a user join only their own topic, so the socket
 * must carry the user's token first: `realtime.setAuth()` takes the session's, and supabase-js
 * sends each refreshed token to joined channels. SUBSCRIBED means the join was authorized;
 * the `system` message asked for with `replication_ready` means Broadcast from the database
 * flows, so the first read happens only then: nothing can fall between the read and the
 * stream. Returns a function that stops following.
 */
export async function followJobs(
  supabase: VprocClient,
  userId: string,
  handlers: JobEventHandlers,
  backstopMs = 30_000,
): Promise<() => Promise<void>> {
  await supabase.realtime.setAuth();
  let joined = false;
  let readyTimer: ReturnType<typeof setTimeout> | undefined;
  const resync = () => {
    clearTimeout(readyTimer);
    readyTimer = undefined;
    handlers.resync();
  };
  const channel = supabase
    .channel(`jobs:${userId}`, {
      config: { private: true, broadcast: { replication_ready: true } },
    })
    .on("broadcast", { event: "job_updated" }, ({ payload }) => handlers.onEvent(payload as JobEvent))
    .on("broadcast", { event: "job_deleted" }, ({ payload }) => handlers.onDeleted(payload as JobDeletedEvent))
    .on("system", {}, (payload: RealtimeSystemPayload) => {
      if (joined && payload.extension === "system" && payload.status === "ok") resync();
    })
    .subscribe((status, error) => {
      joined = status === "SUBSCRIBED";
      if (joined) {
        // Servers that predate `replication_ready` never confirm: read after a grace period.
        clearTimeout(readyTimer);
        readyTimer = setTimeout(resync, READY_GRACE_MS);
      } else if (status === "CHANNEL_ERROR" || status === "TIMED_OUT") {
        // supabase-js rejoins by itself; a refused join (no policy, expired token) says why.
        handlers.onError(new Error(`job channel ${status}${error ? `: ${error.message}` : ""}`));
      }
    });
  const backstop = setInterval(() => joined && resync(), backstopMs);
  return async () => {
    clearInterval(backstop);
    clearTimeout(readyTimer);
    await supabase.removeChannel(channel);
  };
}

/** Status, metadata and short-lived artifact URLs of one job, from the edge function. */
export async function fetchArtifacts(
  supabase: VprocClient,
  jobId: number,
): Promise<JobArtifactsResponse> {
  const { data, error } = await supabase.functions.invoke<JobArtifactsResponse>(
    `job-artifacts?job_id=${jobId}`,
    { method: "GET" },
  );
  if (error) {
    // Non-2xx answers carry `{ error: { code, message } }`; the Response is in `context`.
    const response: unknown = error.context;
    if (response instanceof Response) {
      const body = (await response.json().catch(() => null)) as JobArtifactsError | null;
      if (body?.error) throw new Error(`${response.status} ${body.error.code}: ${body.error.message}`);
    }
    throw new Error(`job-artifacts failed: ${error.message}`);
  }
  if (data === null) throw new Error("job-artifacts returned no body");
  return data;
}

/** Put a FAILED or CANCELLED job back in the queue (RPC; PT404/PT409 come back as errors). */
export async function retryJob(supabase: VprocClient, jobId: number): Promise<void> {
  const { error } = await supabase.rpc("retry_video_job", { job_id: jobId });
  if (error) throw new Error(`retry failed: ${error.message}`);
}

/** Cancel a PENDING job, or ask the worker to stop a PROCESSING one. */
export async function cancelJob(supabase: VprocClient, jobId: number): Promise<void> {
  const { error } = await supabase.rpc("cancel_video_job", { job_id: jobId });
  if (error) throw new Error(`cancel failed: ${error.message}`);
}
