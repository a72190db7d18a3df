-- Named queries the daemon and the CLI run. Each block: `-- name:`, a one-line `-- purpose:`,
-- then one statement with psycopg named parameters. Queue calls are one line: the logic lives
-- in the processor.* functions (supabase/migrations/20261127100400_queue_functions.sql).

-- name: claim_jobs
-- purpose: Claim up to batch_size due or abandoned jobs for this worker, with their videos.
-- An empty processing_stages comes back as null: nothing to decode for a first attempt.
select j.id, j.video_id, j.owner_id, j.status::text as status, j.priority, j.attempts,
  j.max_attempts, j.cancel_requested, nullif(j.processing_stages, '{}'::jsonb) as processing_stages,
  j.claim_token, v.storage_path,
  v.original_filename, v.content_type, v.size_bytes
from processor.claim_jobs(
  %(worker_id)s::text, %(batch_size)s::integer, %(lease_seconds)s::integer,
  %(max_attempts)s::integer
) as j
join public.videos as v on v.id = j.video_id;

-- name: heartbeat
-- purpose: Extend a claimed job's lease; no row when the claim is lost.
select cancel_requested
from processor.heartbeat(%(job_id)s::bigint, %(claim_token)s::uuid, %(lease_seconds)s::integer);

-- name: record_progress
-- purpose: Write stage, progress and changed stage entries of a claimed job.
select processor.record_progress(
  %(job_id)s::bigint, %(claim_token)s::uuid, %(current_stage)s::text, %(progress)s::real, %(stages)s::jsonb
);

-- name: save_metadata
-- purpose: Upsert some video_metadata fields of a claimed job.
select processor.save_metadata(%(job_id)s::bigint, %(claim_token)s::uuid, %(metadata)s::jsonb);

-- name: complete_job
-- purpose: Mark a claimed job COMPLETED with its metadata.
select processor.complete_job(%(job_id)s::bigint, %(claim_token)s::uuid, %(metadata)s::jsonb);

-- name: complete_jobs
-- purpose: Complete a batch of claimed jobs; returns the ids that were completed.
select processor.complete_jobs(%(jobs)s::jsonb) as job_id;

-- name: fail_job
-- purpose: Record a failed attempt; returns the new status, null when the claim is lost.
select processor.fail_job(
  %(job_id)s::bigint, %(claim_token)s::uuid, %(error_code)s::text, %(error_message)s::text, %(retryable)s::boolean,
  %(retry_after_seconds)s::integer
)::text;

-- name: release_job
-- purpose: Hand a claimed job back to the queue without spending an attempt.
select processor.release_job(%(job_id)s::bigint, %(claim_token)s::uuid);

-- name: cancel_job
-- purpose: Mark a claimed job CANCELLED after its worker stopped it.
select processor.cancel_job(%(job_id)s::bigint, %(claim_token)s::uuid);

-- name: reap_expired_leases
-- purpose: Settle expired leases that will not be claimed again.
select job_id, status::text as status from processor.reap_expired_leases();

-- name: claim_storage_cleanup
-- purpose: Claim objects left by deleted videos for deletion.
select id, bucket_role, object_path, attempts
from processor.claim_storage_cleanup(%(limit)s::integer);

-- name: finish_storage_cleanup
-- purpose: Forget a cleanup row whose objects are deleted.
select processor.finish_storage_cleanup(%(cleanup_id)s::bigint);

-- name: queue_depth
-- purpose: Number of jobs per status, for metrics and `vproc doctor`.
select status::text as status, count(*) as jobs
from public.video_jobs
group by status;

-- name: list_jobs
-- purpose: Newest jobs first, optionally of one status, with their video's file name.
select j.id, j.video_id, j.owner_id, j.status::text as status, j.priority, j.attempts,
  j.max_attempts, j.current_stage, j.progress, j.error_code, j.error_message,
  j.created_at, j.started_at, j.finished_at, j.updated_at, v.original_filename
from public.video_jobs as j
join public.videos as v on v.id = j.video_id
where %(status)s::text is null or j.status::text = %(status)s::text
order by j.id desc
limit %(limit)s;

-- name: get_job
-- purpose: One job with everything about it, for `vproc show` and `vproc watch`.
select j.id, j.video_id, j.owner_id, j.status::text as status, j.priority, j.attempts,
  j.max_attempts, j.retries, j.run_after, l.locked_by, l.locked_until, l.heartbeat_at,
  j.cancel_requested, j.current_stage, j.progress, j.processing_stages, j.error_code,
  j.error_message, j.created_at, j.started_at, j.finished_at, j.updated_at,
  v.original_filename, v.storage_path, v.content_type, v.size_bytes
from public.video_jobs as j
join public.videos as v on v.id = j.video_id
left join processor.job_leases as l on l.job_id = j.id
where j.id = %(job_id)s::bigint;

-- name: get_metadata
-- purpose: A job's video_metadata row.
select title, description, tags, transcript_text, transcript_file_url, subtitle_files_urls,
  thumbnail_file_url, extracted_video_duration_seconds, extracted_video_resolution,
  extracted_video_format, show_notes_text, language, language_probability, created_at, updated_at
from public.video_metadata
where job_id = %(job_id)s::bigint;

-- name: job_owner
-- purpose: Who owns a job (the CLI acts as that user for retry and cancel).
select owner_id from public.video_jobs where id = %(job_id)s::bigint;

-- name: user_exists
-- purpose: Whether an auth.users row exists.
select exists (select 1 from auth.users where id = %(user_id)s);

-- name: ensure_user
-- purpose: Create an auth.users row if it is missing (the demo user on a local database).
insert into auth.users (id, aud, role, email)
values (%(user_id)s, 'authenticated', 'authenticated', %(email)s)
on conflict (id) do nothing;

-- name: prioritize_job
-- purpose: Put a job ahead of older queued ones (the demo's job runs first).
update public.video_jobs set priority = %(priority)s where id = %(job_id)s;

-- name: act_as_user
-- purpose: Become `user_id` for the rest of the transaction, exactly as PostgREST does.
select set_config('role', 'authenticated', true),
  set_config('request.jwt.claims', %(claims)s, true);

-- name: insert_video
-- purpose: Insert a video as the acting user (RLS applies); the trigger enqueues its job.
insert into public.videos (id, original_filename, storage_path, content_type, size_bytes)
values (%(video_id)s, %(original_filename)s, %(storage_path)s, %(content_type)s, %(size_bytes)s)
returning id;

-- name: job_for_video
-- purpose: The job created for a video.
select id from public.video_jobs where video_id = %(video_id)s;

-- name: retry_video_job
-- purpose: The client RPC: FAILED/CANCELLED -> PENDING (as the acting user).
select id, status::text as status from public.retry_video_job(%(job_id)s::bigint);

-- name: cancel_video_job
-- purpose: The client RPC: cancel a PENDING job or ask for a PROCESSING one to stop.
select id, status::text as status, cancel_requested from public.cancel_video_job(%(job_id)s::bigint);

-- AI response cache (processor.ai_cache). Expiry uses the database clock.

-- name: get_ai_cache_entry
-- purpose: Read a cached response that has not expired; no row on a miss.
select response
from processor.ai_cache
where cache_key = %(cache_key)s
  and expires_at > now();

-- name: put_ai_cache_entry
-- purpose: Store a response for ttl_seconds, replacing any earlier (possibly expired) one.
insert into processor.ai_cache (
  cache_key, kind, provider, model, prompt_version, response, created_at, expires_at
)
values (
  %(cache_key)s, %(kind)s, %(provider)s, %(model)s, %(prompt_version)s, %(response)s::jsonb,
  now(), now() + make_interval(secs => %(ttl_seconds)s)
)
on conflict (cache_key) do update
set kind = excluded.kind,
  provider = excluded.provider,
  model = excluded.model,
  prompt_version = excluded.prompt_version,
  response = excluded.response,
  created_at = excluded.created_at,
  expires_at = excluded.expires_at;

-- name: purge_expired_ai_cache
-- purpose: Delete expired responses; returns how many rows went.
with purged as (
  delete from processor.ai_cache
  where expires_at <= now()
  returning 1
)
select count(*) from purged;

-- Quotas (processor.quotas): operators read and change them with `vproc quota`.

-- name: list_quotas
-- purpose: The defaults row and every per-user row, defaults first.
select user_id, max_active_jobs, max_videos_per_day, max_bytes_per_day, max_retries_per_job,
  updated_at
from processor.quotas
order by user_id nulls first;

-- name: effective_quota
-- purpose: The limits that apply to one user (their row, else the defaults) and today's usage.
select q.user_id, q.max_active_jobs, q.max_videos_per_day, q.max_bytes_per_day,
  q.max_retries_per_job, q.updated_at, processor.active_jobs(%(user_id)s::uuid) as active_jobs,
  coalesce(u.videos, 0) as videos_today, coalesce(u.bytes, 0) as bytes_today
from processor.quota_for(%(user_id)s::uuid) as q
left join processor.quota_usage as u
  on u.user_id = %(user_id)s::uuid and u.day = (now() at time zone 'utc')::date;

-- name: set_quota
-- purpose: Create or change the defaults row (user_id null) or a user's row; returns it.
with base as (
  select * from processor.quota_for(%(user_id)s::uuid)
),
updated as (
  update processor.quotas as q
  set max_active_jobs = case when %(set_active)s then %(max_active_jobs)s::integer else q.max_active_jobs end,
    max_videos_per_day = case when %(set_videos)s then %(max_videos_per_day)s::integer else q.max_videos_per_day end,
    max_bytes_per_day = case when %(set_bytes)s then %(max_bytes_per_day)s::bigint else q.max_bytes_per_day end,
    max_retries_per_job = case when %(set_retries)s then %(max_retries_per_job)s::integer else q.max_retries_per_job end,
    updated_at = now()
  where q.user_id is not distinct from %(user_id)s::uuid
  returning q.user_id, q.max_active_jobs, q.max_videos_per_day, q.max_bytes_per_day,
    q.max_retries_per_job, q.updated_at
),
inserted as (
  insert into processor.quotas (user_id, max_active_jobs, max_videos_per_day, max_bytes_per_day, max_retries_per_job)
  select %(user_id)s::uuid,
    case when %(set_active)s then %(max_active_jobs)s::integer else b.max_active_jobs end,
    case when %(set_videos)s then %(max_videos_per_day)s::integer else b.max_videos_per_day end,
    case when %(set_bytes)s then %(max_bytes_per_day)s::bigint else b.max_bytes_per_day end,
    case when %(set_retries)s then %(max_retries_per_job)s::integer else b.max_retries_per_job end
  from (select 1) as one
  left join base as b on true
  where not exists (select 1 from updated)
  returning user_id, max_active_jobs, max_videos_per_day, max_bytes_per_day,
    max_retries_per_job, updated_at
)
select * from updated
union all
select * from inserted;

-- name: clear_quota
-- purpose: Delete a user's row so the defaults apply again; true if there was one.
with deleted as (
  delete from processor.quotas where user_id = %(user_id)s::uuid returning 1
)
select exists (select 1 from deleted);
