/**
 * The JSON contract of `GET /functions/v1/job-artifacts?job_id=N` (types only, no runtime).
 * Frontends import these types; docs/frontend.md describes the same shape.
 */
import type { Database, Json, Tables } from "../../types/database.ts";

export type ProcessingStatus = Database["public"]["Enums"]["processing_status"];

/**
 * Artifacts the pipeline writes under `<owner_id>/<job_id>/`: `vtt`/`srt` are the subtitles in
 * the spoken language, `vtt_en`/`srt_en` their English translation (non-English speech only).
 */
export type ArtifactName = "transcript" | "vtt" | "srt" | "vtt_en" | "srt_en" | "thumbnail";

/** A short-lived URL that reads one artifact without further credentials. */
export interface SignedArtifact {
  url: string;
  /** ISO 8601; the URL stops working then. */
  expires_at: string;
}

export type JobArtifactsVideo = Pick<
  Tables<"videos">,
  "original_filename" | "content_type" | "size_bytes" | "created_at"
>;

/** `video_metadata` without its ids and object keys (those become `artifacts`). */
export type JobArtifactsMetadata = Pick<
  Tables<"video_metadata">,
  | "title"
  | "description"
  | "tags"
  | "transcript_text"
  | "show_notes_text"
  | "extracted_video_duration_seconds"
  | "extracted_video_resolution"
  | "extracted_video_format"
  | "language"
  | "language_probability"
  | "created_at"
  | "updated_at"
>;

/** 200 body. */
export interface JobArtifactsResponse {
  job_id: number;
  video_id: string;
  status: ProcessingStatus;
  /** 0..1 */
  progress: number;
  current_stage: string | null;
  error_code: string | null;
  error_message: string | null;
  cancel_requested: boolean;
  attempts: number;
  max_attempts: number;
  processing_stages: Json;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  video: JobArtifactsVideo | null;
  /** null until the pipeline has written results. */
  metadata: JobArtifactsMetadata | null;
  /** Each artifact's signed URL, or null when the job has not produced it (yet). */
  artifacts: Record<ArtifactName, SignedArtifact | null>;
  /** Lifetime of every URL in `artifacts`, in seconds. */
  expires_in: number;
}

/** Body of every non-2xx answer. */
export interface JobArtifactsError {
  error: {
    code:
      | "bad_request"
      | "unauthorized"
      | "not_found"
      | "method_not_allowed"
      | "upstream_unavailable"
      | "internal";
    message: string;
  };
}
