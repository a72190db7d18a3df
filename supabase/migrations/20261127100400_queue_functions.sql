-- The queue API: how the vproc daemon moves public.video_jobs through its life.
--
-- State machine (function that moves each edge in brackets):
--
--   PENDING ──[claim_jobs]──────────────────────────────► PROCESSING
--   PROCESSING ──[complete_job, complete_jobs]──────────► COMPLETED
--   PROCESSING ──[fail_job: retryable, attempts left]───► PENDING   (run_after = now() + backoff)
--   PROCESSING ──[fail_job: permanent or last attempt]──► FAILED
--   PROCESSING ──[release_job: worker shutting down]────► PENDING   (attempt given back)
--   PROCESSING ──[cancel_job: worker saw the request]───► CANCELLED
--   PROCESSING, lease expired, attempts left ──[claim_jobs]──► PROCESSING (attempts + 1)
--   PROCESSING, lease expired, no attempts left ──[reap_expired_leases]──► FAILED (lease_expired)
--   PROCESSING, lease expired, cancel requested ──[reap_expired_leases]──► CANCELLED
--   PENDING ──[public.cancel_video_job]─────────────────► CANCELLED
--   PROCESSING ──[public.cancel_video_job]──────────────► cancel_requested = true
--   FAILED | CANCELLED ──[public.retry_video_job]───────► PENDING   (attempts reset)
--
-- Lease and fence. claim_jobs hands a job to one worker: it sets locked_by = the worker id,
-- bumps attempts and sets locked_until = now() + lease. The pair (locked_by, attempts)
-- identifies that one claim. Every later call (heartbeat, record_progress, save_metadata,
-- complete_job, fail_job, release_job, cancel_job) passes (job_id, worker_id, attempts) and
-- changes the row only while it is still PROCESSING under that same claim; it returns
-- false / null / no row otherwise, and the caller must stop and write nothing more. A worker
-- whose lease expired and whose job was claimed again can therefore never overwrite the new
-- claim's work, even if it shares the worker id (attempts differs).
--
-- All lease arithmetic uses the database clock (now()), never the worker's.
-- Higher priority runs first; within a priority, the older job (lower id).
-- These functions run as the caller (vproc_processor); its table grants and RLS policies
-- are in the table migrations.

-- ==========================================================================================
-- functions
-- ==========================================================================================

-- claim_jobs: called by a worker with free slots. Atomically claims up to p_batch_size jobs:
-- due PENDING jobs and PROCESSING jobs whose lease expired with attempts left (their worker
-- died). SKIP LOCKED lets any number of workers claim concurrently without blocking on or
-- double-claiming a row another transaction is claiming. Returns the claimed rows, as
-- updated; no rows when there is nothing to do.
create function processor.claim_jobs(
  p_worker_id text,
  p_batch_size integer default 1,
  p_lease_seconds integer default 300,
  p_max_attempts integer default null
)
returns setof public.video_jobs
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- plpgsql, not sql: its plan is prepared once per session instead of on every call.
  return query
  with due as (
    -- Fresh work, in claim order, straight off the partial index of PENDING rows.
    select j.id, j.priority
    from public.video_jobs as j
    where j.status = 'PENDING'
      and j.run_after <= now()
    order by j.priority desc, j.id
    limit p_batch_size
    for update skip locked
  ),
  expired as (
    -- Abandoned work: the worker holding the lease stopped heartbeating. A job whose owner
    -- asked to cancel is left to reap_expired_leases instead of being run again.
    select j.id, j.priority
    from public.video_jobs as j
    where j.status = 'PROCESSING'
      and j.locked_until < now()
      and j.attempts < j.max_attempts
      and not j.cancel_requested
    order by j.priority desc, j.id
    limit p_batch_size
    for update skip locked
  ),
  picked as (
    select c.id
    from (select * from due union all select * from expired) as c
    order by c.priority desc, c.id
    limit p_batch_size
  ),
  claimed as (
    update public.video_jobs as j
    set status = 'PROCESSING',
        attempts = j.attempts + 1,
        -- The worker's JOB_MAX_ATTEMPTS is the policy; never below the attempt being started.
        max_attempts = greatest(coalesce(p_max_attempts, j.max_attempts), j.attempts + 1),
        locked_by = p_worker_id,
        locked_until = now() + make_interval(secs => p_lease_seconds),
        heartbeat_at = now(),
        started_at = now(),
        finished_at = null,
        updated_at = now()
    from picked
    where j.id = picked.id
    returning j.*
  )
  select * from claimed
  order by claimed.priority desc, claimed.id;
end;
$$;

comment on function processor.claim_jobs(text, integer, integer, integer) is
  'Claim up to p_batch_size due or abandoned jobs for p_worker_id (FOR UPDATE SKIP LOCKED).';

-- heartbeat: called by the worker every lease/3 for each job it runs. Extends the lease and
-- reports whether the owner asked to cancel. No row: the claim is lost (lease expired and
-- the job was claimed again, finished, or deleted); the worker must stop the job.
create function processor.heartbeat(
  p_job_id bigint,
  p_worker_id text,
  p_attempts integer,
  p_lease_seconds integer default 300
)
returns table (cancel_requested boolean)
language sql
volatile
set search_path = ''
as $$
  update public.video_jobs as j
  set locked_until = now() + make_interval(secs => p_lease_seconds),
      heartbeat_at = now()
  where j.id = p_job_id
    and j.status = 'PROCESSING'
    and j.locked_by = p_worker_id
    and j.attempts = p_attempts
  returning j.cancel_requested;
$$;

comment on function processor.heartbeat(bigint, text, integer, integer) is
  'Extend a claimed job''s lease; returns cancel_requested, or no row when the claim is lost.';

-- record_progress: called by the stage runner (throttled to about once a second per job).
-- p_stages is merged into processing_stages key by key (one key per stage), so each call
-- sends only the stages that changed. Returns false when the claim is lost.
create function processor.record_progress(
  p_job_id bigint,
  p_worker_id text,
  p_attempts integer,
  p_current_stage text,
  p_progress real,
  p_stages jsonb default '{}'::jsonb
)
returns boolean
language sql
volatile
set search_path = ''
as $$
  with updated as (
    update public.video_jobs as j
    set current_stage = p_current_stage,
        progress = least(greatest(coalesce(p_progress, j.progress), 0), 1),
        processing_stages = j.processing_stages || coalesce(p_stages, '{}'::jsonb),
        updated_at = now()
    where j.id = p_job_id
      and j.status = 'PROCESSING'
      and j.locked_by = p_worker_id
      and j.attempts = p_attempts
    returning 1
  )
  select exists (select 1 from updated);
$$;

comment on function processor.record_progress(bigint, text, integer, text, real, jsonb) is
  'Write current_stage, progress and changed processing_stages of a claimed job; false when the claim is lost.';

-- save_metadata: upserts the job's video_metadata row with the keys present in p_metadata
-- (keys absent are left as they are), so stages can checkpoint results as they finish.
-- Keys are video_metadata column names; owner_id and job_id always come from the job.
-- Returns false, writing nothing, when the claim is lost.
create function processor.save_metadata(
  p_job_id bigint,
  p_worker_id text,
  p_attempts integer,
  p_metadata jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_owner_id uuid;
  v_new public.video_metadata;
begin
  -- Lock the job row under the fence so a concurrent re-claim cannot interleave.
  select j.owner_id
  into v_owner_id
  from public.video_jobs as j
  where j.id = p_job_id
    and j.status = 'PROCESSING'
    and j.locked_by = p_worker_id
    and j.attempts = p_attempts
  for update;

  if not found then
    return false;
  end if;

  v_new := jsonb_populate_record(null::public.video_metadata, coalesce(p_metadata, '{}'::jsonb));

  insert into public.video_metadata as m (
    job_id, owner_id, title, description, tags, transcript_text, transcript_file_url,
    subtitle_files_urls, thumbnail_file_url, extracted_video_duration_seconds,
    extracted_video_resolution, extracted_video_format, show_notes_text
  )
  values (
    p_job_id, v_owner_id, v_new.title, v_new.description, coalesce(v_new.tags, '{}'),
    v_new.transcript_text, v_new.transcript_file_url,
    coalesce(v_new.subtitle_files_urls, '{}'::jsonb), v_new.thumbnail_file_url,
    v_new.extracted_video_duration_seconds, v_new.extracted_video_resolution,
    v_new.extracted_video_format, v_new.show_notes_text
  )
  on conflict (job_id) do update
  set title = case when p_metadata ? 'title' then excluded.title else m.title end,
      description = case when p_metadata ? 'description' then excluded.description else m.description end,
      tags = case when p_metadata ? 'tags' then excluded.tags else m.tags end,
      transcript_text = case when p_metadata ? 'transcript_text' then excluded.transcript_text else m.transcript_text end,
      transcript_file_url = case when p_metadata ? 'transcript_file_url' then excluded.transcript_file_url else m.transcript_file_url end,
      subtitle_files_urls = case when p_metadata ? 'subtitle_files_urls' then excluded.subtitle_files_urls else m.subtitle_files_urls end,
      thumbnail_file_url = case when p_metadata ? 'thumbnail_file_url' then excluded.thumbnail_file_url else m.thumbnail_file_url end,
      extracted_video_duration_seconds = case when p_metadata ? 'extracted_video_duration_seconds' then excluded.extracted_video_duration_seconds else m.extracted_video_duration_seconds end,
      extracted_video_resolution = case when p_metadata ? 'extracted_video_resolution' then excluded.extracted_video_resolution else m.extracted_video_resolution end,
      extracted_video_format = case when p_metadata ? 'extracted_video_format' then excluded.extracted_video_format else m.extracted_video_format end,
      show_notes_text = case when p_metadata ? 'show_notes_text' then excluded.show_notes_text else m.show_notes_text end;

  return true;
end;
$$;

comment on function processor.save_metadata(bigint, text, integer, jsonb) is
  'Upsert the given video_metadata fields of a claimed job; false when the claim is lost.';

-- complete_job: the last write of a successful run. Saves p_metadata (if given) and marks
-- the job COMPLETED in one transaction. Returns false, writing nothing, when the claim is lost.
create function processor.complete_job(
  p_job_id bigint,
  p_worker_id text,
  p_attempts integer,
  p_metadata jsonb default null
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  if p_metadata is not null
    and not processor.save_metadata(p_job_id, p_worker_id, p_attempts, p_metadata) then
    return false;
  end if;

  update public.video_jobs as j
  set status = 'COMPLETED',
      progress = 1,
      current_stage = null,
      locked_by = null,
      locked_until = null,
      cancel_requested = false,
      error_code = null,
      error_message = null,
      finished_at = now(),
      updated_at = now()
  where j.id = p_job_id
    and j.status = 'PROCESSING'
    and j.locked_by = p_worker_id
    and j.attempts = p_attempts;

  return found;
end;
$$;

comment on function processor.complete_job(bigint, text, integer, jsonb) is
  'Mark a claimed job COMPLETED, saving its metadata; false when the claim is lost.';

-- complete_jobs: complete_job for a batch, in one round trip and one commit, for workers
-- that finish many short jobs. p_jobs is a JSON array of {"job_id", "attempts", "metadata"};
-- each element is fenced on its own. Returns the ids completed; the others lost their claim.
create function processor.complete_jobs(
  p_worker_id text,
  p_jobs jsonb
)
returns setof bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_item jsonb;
begin
  for v_item in select value from jsonb_array_elements(p_jobs) loop
    if processor.complete_job(
      (v_item ->> 'job_id')::bigint,
      p_worker_id,
      (v_item ->> 'attempts')::integer,
      nullif(v_item -> 'metadata', 'null'::jsonb)
    ) then
      return next (v_item ->> 'job_id')::bigint;
    end if;
  end loop;
end;
$$;

comment on function processor.complete_jobs(text, jsonb) is
  'Batched complete_job: returns the ids completed; each element fenced on its own.';

-- retry_backoff: delay before attempt p_attempts + 1 after a transient failure of attempt
-- p_attempts: exponential (10 s, 20 s, 40 s, … capped at 1 h) with "equal jitter": a random
-- point in the upper half of the step, so retries of many jobs spread out yet keep growing.
create function processor.retry_backoff(p_attempts integer)
returns interval
language sql
volatile
set search_path = ''
as $$
  select make_interval(
    secs => d / 2 + random() * d / 2
  )
  from (
    select least(3600.0, 10.0 * power(2, greatest(p_attempts, 1) - 1)) as d
  ) as step;
$$;

comment on function processor.retry_backoff(integer) is
  'Backoff before retrying after attempt p_attempts: 10 s doubling to 1 h, equal jitter.';

-- fail_job: the last write of a failed run. A retryable error with attempts left goes back
-- to PENDING after retry_backoff (or p_retry_after_seconds, when the failing service asked
-- for longer); anything else is FAILED. The error is kept on the row either way so users
-- see why a job is waiting. Returns the new status, or null when the claim is lost.
create function processor.fail_job(
  p_job_id bigint,
  p_worker_id text,
  p_attempts integer,
  p_error_code text,
  p_error_message text,
  p_retryable boolean,
  p_retry_after_seconds integer default null
)
returns public.processing_status
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_status public.processing_status;
begin
  update public.video_jobs as j
  set status = case
        when p_retryable and j.attempts < j.max_attempts then 'PENDING'
        else 'FAILED'
      end::public.processing_status,
      run_after = case
        when p_retryable and j.attempts < j.max_attempts then
          now() + greatest(
            processor.retry_backoff(j.attempts),
            make_interval(secs => coalesce(p_retry_after_seconds, 0))
          )
        else j.run_after
      end,
      finished_at = case
        when p_retryable and j.attempts < j.max_attempts then null
        else now()
      end,
      locked_by = null,
      locked_until = null,
      error_code = coalesce(p_error_code, 'internal'),
      error_message = left(p_error_message, 2000)
  where j.id = p_job_id
    and j.status = 'PROCESSING'
    and j.locked_by = p_worker_id
    and j.attempts = p_attempts
  returning j.status into v_status;

  return v_status;
end;
$$;

comment on function processor.fail_job(bigint, text, integer, text, text, boolean, integer) is
  'Record a failed attempt: PENDING with backoff if retryable and attempts remain, else FAILED; null when the claim is lost.';

-- release_job: called by a worker that is shutting down before the job finished. The job
-- goes back to PENDING, due now, and the attempt is given back: being interrupted by a
-- deploy is not the job's fault. Returns false when the claim is lost.
create function processor.release_job(
  p_job_id bigint,
  p_worker_id text,
  p_attempts integer
)
returns boolean
language sql
volatile
set search_path = ''
as $$
  with updated as (
    update public.video_jobs as j
    set status = 'PENDING',
        attempts = j.attempts - 1,
        run_after = now(),
        locked_by = null,
        locked_until = null
    where j.id = p_job_id
      and j.status = 'PROCESSING'
      and j.locked_by = p_worker_id
      and j.attempts = p_attempts
    returning 1
  )
  select exists (select 1 from updated);
$$;

comment on function processor.release_job(bigint, text, integer) is
  'Hand a claimed job back to the queue without spending an attempt; false when the claim is lost.';

-- cancel_job: called by the worker once it has stopped a job whose owner asked to cancel
-- (heartbeat returned cancel_requested). Returns false when the claim is lost.
create function processor.cancel_job(
  p_job_id bigint,
  p_worker_id text,
  p_attempts integer
)
returns boolean
language sql
volatile
set search_path = ''
as $$
  with updated as (
    update public.video_jobs as j
    set status = 'CANCELLED',
        locked_by = null,
        locked_until = null,
        error_code = 'cancelled',
        error_message = 'Cancelled at the owner''s request.',
        finished_at = now()
    where j.id = p_job_id
      and j.status = 'PROCESSING'
      and j.locked_by = p_worker_id
      and j.attempts = p_attempts
    returning 1
  )
  select exists (select 1 from updated);
$$;

comment on function processor.cancel_job(bigint, text, integer) is
  'Mark a claimed job CANCELLED after its worker stopped it; false when the claim is lost.';

-- reap_expired_leases: called periodically by every worker. Settles expired leases that
-- claim_jobs will not take again, so no dead job shows as PROCESSING: out of attempts ->
-- FAILED (lease_expired); cancel requested -> CANCELLED. Returns the settled jobs.
create function processor.reap_expired_leases()
returns table (job_id bigint, status public.processing_status)
language sql
volatile
set search_path = ''
as $$
  with expired as (
    select j.id
    from public.video_jobs as j
    where j.status = 'PROCESSING'
      and j.locked_until < now()
      and (j.attempts >= j.max_attempts or j.cancel_requested)
    for update skip locked
  )
  update public.video_jobs as j
  set status = case
        when j.cancel_requested then 'CANCELLED'
        else 'FAILED'
      end::public.processing_status,
      error_code = case when j.cancel_requested then 'cancelled' else 'lease_expired' end,
      error_message = case
        when j.cancel_requested then 'Cancelled at the owner''s request.'
        else format('The worker processing this job stopped responding (attempt %s of %s).',
                    j.attempts, j.max_attempts)
      end,
      locked_by = null,
      locked_until = null,
      finished_at = now()
  from expired
  where j.id = expired.id
  returning j.id, j.status;
$$;

comment on function processor.reap_expired_leases() is
  'Settle expired leases with no attempts left (FAILED lease_expired) or a pending cancel (CANCELLED).';

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on function
  processor.claim_jobs(text, integer, integer, integer),
  processor.heartbeat(bigint, text, integer, integer),
  processor.record_progress(bigint, text, integer, text, real, jsonb),
  processor.save_metadata(bigint, text, integer, jsonb),
  processor.complete_job(bigint, text, integer, jsonb),
  processor.complete_jobs(text, jsonb),
  processor.retry_backoff(integer),
  processor.fail_job(bigint, text, integer, text, text, boolean, integer),
  processor.release_job(bigint, text, integer),
  processor.cancel_job(bigint, text, integer),
  processor.reap_expired_leases()
from public, anon, authenticated;

grant execute on function
  processor.claim_jobs(text, integer, integer, integer),
  processor.heartbeat(bigint, text, integer, integer),
  processor.record_progress(bigint, text, integer, text, real, jsonb),
  processor.save_metadata(bigint, text, integer, jsonb),
  processor.complete_job(bigint, text, integer, jsonb),
  processor.complete_jobs(text, jsonb),
  processor.retry_backoff(integer),
  processor.fail_job(bigint, text, integer, text, text, boolean, integer),
  processor.release_job(bigint, text, integer),
  processor.cancel_job(bigint, text, integer),
  processor.reap_expired_leases()
to vproc_processor;
