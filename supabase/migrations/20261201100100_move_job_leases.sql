-- Leases move out of users' sight, the fence becomes a claim token that never repeats, and
-- claim_jobs serves owners round-robin.
--
-- Supersedes, from 20261127100200_create_video_jobs.sql: the columns video_jobs.locked_by,
-- locked_until and heartbeat_at, the constraint video_jobs_lease_check and the indexes
-- video_jobs_pending_priority_id_idx and video_jobs_processing_locked_until_idx (all dropped);
-- from 20261127100400_queue_functions.sql: every queue function (dropped and re-created with
-- the claim token as their fence; reap_expired_leases and retry_backoff keep their signature).
--
-- State machine (function that moves each edge in brackets):
--
--   PENDING ──[claim_jobs]──────────────────────────────► PROCESSING (new lease, new token)
--   PROCESSING ──[complete_job, complete_jobs]──────────► COMPLETED
--   PROCESSING ──[fail_job: retryable, attempts left]───► PENDING   (run_after = now() + backoff)
--   PROCESSING ──[fail_job: permanent or last attempt]──► FAILED
--   PROCESSING ──[release_job: worker shutting down]────► PENDING   (attempt given back)
--   PROCESSING ──[cancel_job: worker saw the request]───► CANCELLED
--   PROCESSING, lease expired, attempts left ──[claim_jobs]──► PROCESSING (attempts + 1, new token)
--   PROCESSING, lease expired, no attempts left ──[reap_expired_leases]──► FAILED (lease_expired)
--   PROCESSING, lease expired, cancel requested ──[reap_expired_leases]──► CANCELLED
--   PENDING ──[public.cancel_video_job]─────────────────► CANCELLED
--   PROCESSING ──[public.cancel_video_job]──────────────► cancel_requested = true
--   FAILED | CANCELLED ──[public.retry_video_job]───────► PENDING   (attempts reset, retries + 1)
--
-- Lease. A PROCESSING job has exactly one row in processor.job_leases (and no other job has
-- one): who holds it (locked_by), until when (locked_until), its last heartbeat and its claim
-- token. Users have no access to schema processor, and the table is in no publication, so
-- neither PostgREST nor Realtime can show worker identity to anyone.
--
-- Fence. claim_jobs gives every claim a fresh random uuid, the claim token; it is unique
-- over the job's whole life (retry and release reset attempts, never the token). Every later
-- call (heartbeat, record_progress, save_metadata, complete_job(s), fail_job, release_job,
-- cancel_job) passes (job_id, claim_token) and changes the job only while its lease still
-- carries that token; it returns false / null / no row otherwise, and the caller must stop
-- and write nothing more. Fenced writes lock the job row first and then read the lease, the
-- same order claim_jobs and reap_expired_leases use, so a re-claim racing a late write either
-- commits first (the write then sees the new token and refuses) or waits for it.
--
-- Fairness. claim_jobs takes owners round-robin: the next job of an owner who already has r
-- jobs running gets turn r + 1, the one after it r + 2, and due jobs are claimed in order of
-- (turn, priority desc, id). An owner who floods the queue thus delays another owner's first
-- job by at most about one claim per worker slot. Abandoned jobs (expired lease, attempts
-- left) go first: they were started already.
--
-- All lease arithmetic uses the database clock (now()), never the worker's.
-- These functions run as the caller (vproc_processor).

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table processor.job_leases (
  job_id bigint primary key references public.video_jobs (id) on delete cascade,
  claim_token uuid not null,
  locked_by text not null,
  locked_until timestamptz not null,
  heartbeat_at timestamptz not null default now()
);

comment on table processor.job_leases is
  'The lease of each PROCESSING job: holder, expiry, heartbeat and claim token. Processor only.';
comment on column processor.job_leases.claim_token is
  'Fence of the claim: a fresh random uuid per claim, never reused over the job''s life.';

-- Carry the leases of jobs running while this migration is applied.
insert into processor.job_leases (job_id, claim_token, locked_by, locked_until, heartbeat_at)
select j.id, gen_random_uuid(), coalesce(j.locked_by, 'unknown'),
  coalesce(j.locked_until, now()), coalesce(j.heartbeat_at, now())
from public.video_jobs as j
where j.status = 'PROCESSING';

alter table public.video_jobs drop constraint video_jobs_lease_check;
drop index public.video_jobs_processing_locked_until_idx;
drop index public.video_jobs_pending_priority_id_idx;
alter table public.video_jobs
  drop column locked_by,
  drop column locked_until,
  drop column heartbeat_at;

-- ==========================================================================================
-- indexes
-- ==========================================================================================
-- Expired leases (crashed workers), for claim_jobs and the reaper.
create index job_leases_locked_until_idx on processor.job_leases (locked_until);

-- claim_jobs skips from owner to owner over this index (one probe per owner with queued
-- work) and reads each owner's next jobs off it in claim order.
create index video_jobs_pending_owner_priority_id_idx
  on public.video_jobs (owner_id, priority desc, id)
  where status = 'PENDING';

-- How many jobs each owner has running: the turn of its next job.
create index video_jobs_processing_owner_id_idx
  on public.video_jobs (owner_id)
  where status = 'PROCESSING';

-- ==========================================================================================
-- functions
-- ==========================================================================================
drop function processor.claim_jobs(text, integer, integer, integer);
drop function processor.heartbeat(bigint, text, integer, integer);
drop function processor.record_progress(bigint, text, integer, text, real, jsonb);
drop function processor.complete_jobs(text, jsonb);
drop function processor.complete_job(bigint, text, integer, jsonb);
drop function processor.save_metadata(bigint, text, integer, jsonb);
drop function processor.fail_job(bigint, text, integer, text, text, boolean, integer);
drop function processor.release_job(bigint, text, integer);
drop function processor.cancel_job(bigint, text, integer);

-- claim_jobs: called by a worker with free slots. Atomically claims up to p_batch_size jobs:
-- PROCESSING jobs whose lease expired with attempts left (their worker died), then due
-- PENDING jobs round-robin across owners (see Fairness above). SKIP LOCKED lets any number
-- of workers claim concurrently without blocking on or double-claiming a row another
-- transaction is claiming. Returns the claimed jobs, in claim order, with their new lease and
-- claim token; no rows when there is nothing to do.
create function processor.claim_jobs(
  p_worker_id text,
  p_batch_size integer default 1,
  p_lease_seconds integer default 300,
  p_max_attempts integer default null
)
returns table (
  id bigint,
  video_id uuid,
  owner_id uuid,
  status public.processing_status,
  priority integer,
  attempts integer,
  max_attempts integer,
  cancel_requested boolean,
  processing_stages jsonb,
  claim_token uuid,
  locked_by text,
  locked_until timestamptz
)
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- plpgsql, not sql: its plan is prepared once per session instead of on every call.
  return query
  with recursive owners as (
    -- Owners with due work: a loose index scan, one probe per owner. Ordered exactly as the
    -- partial index of PENDING rows, so no other index (one holding every finished job of
    -- the owner) can serve it. Here and in `loads` a column outside the index is read on
    -- purpose: a plain index scan marks the entries of claimed and finished jobs dead as it
    -- passes them, where an index-only scan would visit them again on every claim until the
    -- next vacuum.
    (
      select j.owner_id
      from public.video_jobs as j
      where j.status = 'PENDING'
        and j.run_after <= now()
      order by j.owner_id, j.priority desc, j.id
      limit 1
    )
    union all
    select (
      select j.owner_id
      from public.video_jobs as j
      where j.status = 'PENDING'
        and j.run_after <= now()
        and j.owner_id > o.owner_id
      order by j.owner_id, j.priority desc, j.id
      limit 1
    )
    from owners as o
    where o.owner_id is not null
  ),
  loads as (
    -- The least busy owners first; no batch can serve more than p_batch_size owners. The
    -- count stops at p_batch_size: an owner running that many is behind every owner running
    -- fewer for the whole batch anyway, and the cost of a claim stays bounded by the batch,
    -- not by how many jobs are running.
    select o.owner_id,
      (select count(*)
       from (
         select r.id
         from public.video_jobs as r
         where r.owner_id = o.owner_id
           and r.status = 'PROCESSING'
         limit p_batch_size
       ) as capped) as running
    from owners as o
    where o.owner_id is not null
    order by running, o.owner_id
    limit p_batch_size
  ),
  due as (
    -- Each owner's next due jobs, in its own priority order, straight off the index.
    select l.owner_id, l.running, n.id, n.priority
    from loads as l
    cross join lateral (
      select j.id, j.priority
      from public.video_jobs as j
      where j.owner_id = l.owner_id
        and j.status = 'PENDING'
        and j.run_after <= now()
      order by j.priority desc, j.id
      limit p_batch_size
      for update of j skip locked
    ) as n
  ),
  expired_leases as materialized (
    -- Leases past their expiry, straight off their index (normally none).
    select l.job_id, l.locked_until
    from processor.job_leases as l
    where l.locked_until < now()
  ),
  expired as (
    -- Abandoned work: the worker holding the lease stopped heartbeating. A job whose owner
    -- asked to cancel is left to reap_expired_leases instead of being run again.
    select j.id, j.priority, 0::bigint as turn
    from expired_leases as l
    join public.video_jobs as j on j.id = l.job_id
    where j.status = 'PROCESSING'
      and j.attempts < j.max_attempts
      and not j.cancel_requested
    order by l.locked_until
    limit p_batch_size
    for update of j skip locked
  ),
  picked as (
    select c.id, c.turn, c.priority
    from (
      select e.id, e.priority, e.turn from expired as e
      union all
      select d.id, d.priority,
        d.running + row_number() over (partition by d.owner_id order by d.priority desc, d.id)
      from due as d
    ) as c
    order by c.turn, c.priority desc, c.id
    limit p_batch_size
  ),
  leased as (
    -- A lease row left behind would only belong to an expired claim; take it over only if it
    -- is still expired (a heartbeat that got there first keeps it).
    insert into processor.job_leases as l (job_id, claim_token, locked_by, locked_until, heartbeat_at)
    select p.id, gen_random_uuid(), p_worker_id, now() + make_interval(secs => p_lease_seconds), now()
    from picked as p
    on conflict (job_id) do update
    set claim_token = excluded.claim_token,
        locked_by = excluded.locked_by,
        locked_until = excluded.locked_until,
        heartbeat_at = excluded.heartbeat_at
    where l.locked_until < now()
    returning l.job_id, l.claim_token, l.locked_by, l.locked_until
  ),
  claimed as (
    update public.video_jobs as j
    set status = 'PROCESSING',
        attempts = j.attempts + 1,
        -- The worker's JOB_MAX_ATTEMPTS is the policy; never below the attempt being started.
        max_attempts = greatest(coalesce(p_max_attempts, j.max_attempts), j.attempts + 1),
        started_at = now(),
        finished_at = null,
        updated_at = now()
    from leased
    where j.id = leased.job_id
    returning j.id, j.video_id, j.owner_id, j.status, j.priority, j.attempts, j.max_attempts,
      j.cancel_requested, j.processing_stages, leased.claim_token, leased.locked_by,
      leased.locked_until
  )
  select c.*
  from claimed as c
  join picked as p on p.id = c.id
  order by p.turn, p.priority desc, p.id;
end;
$$;

comment on function processor.claim_jobs(text, integer, integer, integer) is
  'Claim up to p_batch_size abandoned or due jobs for p_worker_id, owners round-robin (FOR UPDATE SKIP LOCKED).';

-- hold_claim: the fence of every fenced write. Locks the job row if it is PROCESSING, then
-- (a new statement, so it sees any re-claim that committed while it waited) checks that the
-- lease still carries p_claim_token. True: the caller holds the claim until it commits.
create function processor.hold_claim(
  p_job_id bigint,
  p_claim_token uuid
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  perform 1
  from public.video_jobs as j
  where j.id = p_job_id
    and j.status = 'PROCESSING'
  for update;

  if not found then
    return false;
  end if;

  return exists (
    select 1
    from processor.job_leases as l
    where l.job_id = p_job_id
      and l.claim_token = p_claim_token
  );
end;
$$;

comment on function processor.hold_claim(bigint, uuid) is
  'Lock a PROCESSING job and check its lease carries p_claim_token; false when the claim is lost.';

-- heartbeat: called by the worker every lease/3 for each job it runs. Extends the lease and
-- reports whether the owner asked to cancel. No row: the claim is lost (the job was claimed
-- again, finished, or deleted); the worker must stop the job. Only the lease row is written,
-- and its token is rechecked on the row it locks.
create function processor.heartbeat(
  p_job_id bigint,
  p_claim_token uuid,
  p_lease_seconds integer default 300
)
returns table (cancel_requested boolean)
language sql
volatile
set search_path = ''
as $$
  update processor.job_leases as l
  set locked_until = now() + make_interval(secs => p_lease_seconds),
      heartbeat_at = now()
  from public.video_jobs as j
  where l.job_id = p_job_id
    and l.claim_token = p_claim_token
    and j.id = l.job_id
  returning j.cancel_requested;
$$;

comment on function processor.heartbeat(bigint, uuid, integer) is
  'Extend a claimed job''s lease; returns cancel_requested, or no row when the claim is lost.';

-- record_progress: called by the stage runner (throttled to about once a second per job).
-- p_stages is merged into processing_stages key by key (one key per stage), so each call
-- sends only the stages that changed. Returns false when the claim is lost.
create function processor.record_progress(
  p_job_id bigint,
  p_claim_token uuid,
  p_current_stage text,
  p_progress real,
  p_stages jsonb default '{}'::jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  if not processor.hold_claim(p_job_id, p_claim_token) then
    return false;
  end if;

  update public.video_jobs as j
  set current_stage = p_current_stage,
      progress = least(greatest(coalesce(p_progress, j.progress), 0), 1),
      processing_stages = j.processing_stages || coalesce(p_stages, '{}'::jsonb),
      updated_at = now()
  where j.id = p_job_id;

  return true;
end;
$$;

comment on function processor.record_progress(bigint, uuid, text, real, jsonb) is
  'Write current_stage, progress and changed processing_stages of a claimed job; false when the claim is lost.';

-- write_metadata: the upsert behind save_metadata and complete_job, for a job whose claim
-- the caller already holds. Keys are video_metadata column names; keys absent are left as
-- they are; owner_id and job_id always come from the job.
create function processor.write_metadata(
  p_job_id bigint,
  p_metadata jsonb
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_new public.video_metadata;
begin
  v_new := jsonb_populate_record(null::public.video_metadata, coalesce(p_metadata, '{}'::jsonb));

  insert into public.video_metadata as m (
    job_id, owner_id, title, description, tags, transcript_text, transcript_file_url,
    subtitle_files_urls, thumbnail_file_url, extracted_video_duration_seconds,
    extracted_video_resolution, extracted_video_format, show_notes_text
  )
  select
    j.id, j.owner_id, v_new.title, v_new.description, coalesce(v_new.tags, '{}'),
    v_new.transcript_text, v_new.transcript_file_url,
    coalesce(v_new.subtitle_files_urls, '{}'::jsonb), v_new.thumbnail_file_url,
    v_new.extracted_video_duration_seconds, v_new.extracted_video_resolution,
    v_new.extracted_video_format, v_new.show_notes_text
  from public.video_jobs as j
  where j.id = p_job_id
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
end;
$$;

comment on function processor.write_metadata(bigint, jsonb) is
  'Upsert video_metadata fields of a job whose claim the caller holds (no fence of its own).';

-- save_metadata: upserts the job's video_metadata row with the keys present in p_metadata,
-- so stages can checkpoint results as they finish. Returns false, writing nothing, when the
-- claim is lost.
create function processor.save_metadata(
  p_job_id bigint,
  p_claim_token uuid,
  p_metadata jsonb
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  if not processor.hold_claim(p_job_id, p_claim_token) then
    return false;
  end if;

  perform processor.write_metadata(p_job_id, p_metadata);
  return true;
end;
$$;

comment on function processor.save_metadata(bigint, uuid, jsonb) is
  'Upsert the given video_metadata fields of a claimed job; false when the claim is lost.';

-- complete_job: the last write of a successful run. Saves p_metadata (if given), marks the
-- job COMPLETED and drops its lease, in one transaction. Returns false, writing nothing,
-- when the claim is lost.
create function processor.complete_job(
  p_job_id bigint,
  p_claim_token uuid,
  p_metadata jsonb default null
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  if not processor.hold_claim(p_job_id, p_claim_token) then
    return false;
  end if;

  if p_metadata is not null then
    perform processor.write_metadata(p_job_id, p_metadata);
  end if;

  update public.video_jobs as j
  set status = 'COMPLETED',
      progress = 1,
      current_stage = null,
      cancel_requested = false,
      error_code = null,
      error_message = null,
      finished_at = now(),
      updated_at = now()
  where j.id = p_job_id;

  delete from processor.job_leases as l where l.job_id = p_job_id;
  return true;
end;
$$;

comment on function processor.complete_job(bigint, uuid, jsonb) is
  'Mark a claimed job COMPLETED, saving its metadata; false when the claim is lost.';

-- complete_jobs: complete_job for a batch, in one round trip and one commit, for workers
-- that finish many short jobs. p_jobs is a JSON array of {"job_id", "claim_token",
-- "metadata"}; each element is fenced on its own. Returns the ids completed; the others lost
-- their claim. Set-based, with the same fence as hold_claim: lock the batch's PROCESSING job
-- rows (in id order, so two batches never wait on each other in opposite orders), then, in a
-- new statement, keep the elements whose lease still carries their token.
create function processor.complete_jobs(
  p_jobs jsonb
)
returns setof bigint
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_ids bigint[];
  v_held bigint[];
  v_item record;
begin
  select coalesce(array_agg((e.value ->> 'job_id')::bigint), '{}')
  into v_ids
  from jsonb_array_elements(p_jobs) as e;

  perform 1
  from public.video_jobs as j
  where j.id = any (v_ids)
    and j.status = 'PROCESSING'
  order by j.id
  for update;

  select coalesce(array_agg(l.job_id), '{}')
  into v_held
  from jsonb_array_elements(p_jobs) as e
  join processor.job_leases as l
    on l.job_id = (e.value ->> 'job_id')::bigint
   and l.claim_token = (e.value ->> 'claim_token')::uuid
  join public.video_jobs as j
    on j.id = l.job_id
   and j.status = 'PROCESSING';

  if cardinality(v_held) = 0 then
    return;
  end if;

  for v_item in
    select (e.value ->> 'job_id')::bigint as job_id, e.value -> 'metadata' as metadata
    from jsonb_array_elements(p_jobs) as e
    where (e.value ->> 'job_id')::bigint = any (v_held)
      and jsonb_typeof(e.value -> 'metadata') = 'object'
  loop
    perform processor.write_metadata(v_item.job_id, v_item.metadata);
  end loop;

  update public.video_jobs as j
  set status = 'COMPLETED',
      progress = 1,
      current_stage = null,
      cancel_requested = false,
      error_code = null,
      error_message = null,
      finished_at = now(),
      updated_at = now()
  where j.id = any (v_held);

  delete from processor.job_leases as l where l.job_id = any (v_held);

  return query select unnest(v_held);
end;
$$;

comment on function processor.complete_jobs(jsonb) is
  'Batched complete_job: returns the ids completed; each element fenced on its own.';

-- fail_job: the last write of a failed run. A retryable error with attempts left goes back
-- to PENDING after retry_backoff (or p_retry_after_seconds, when the failing service asked
-- for longer); anything else is FAILED. The error is kept on the row either way so users
-- see why a job is waiting. Returns the new status, or null when the claim is lost.
create function processor.fail_job(
  p_job_id bigint,
  p_claim_token uuid,
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
  if not processor.hold_claim(p_job_id, p_claim_token) then
    return null;
  end if;

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
      error_code = coalesce(p_error_code, 'internal'),
      error_message = left(p_error_message, 2000)
  where j.id = p_job_id
  returning j.status into v_status;

  delete from processor.job_leases as l where l.job_id = p_job_id;
  return v_status;
end;
$$;

comment on function processor.fail_job(bigint, uuid, text, text, boolean, integer) is
  'Record a failed attempt: PENDING with backoff if retryable and attempts remain, else FAILED; null when the claim is lost.';

-- release_job: called by a worker that is shutting down before the job finished. The job
-- goes back to PENDING, due now, and the attempt is given back: being interrupted by a
-- deploy is not the job's fault. The next claim gets a new token all the same. Returns false
-- when the claim is lost.
create function processor.release_job(
  p_job_id bigint,
  p_claim_token uuid
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  if not processor.hold_claim(p_job_id, p_claim_token) then
    return false;
  end if;

  update public.video_jobs as j
  set status = 'PENDING',
      attempts = j.attempts - 1,
      run_after = now()
  where j.id = p_job_id;

  delete from processor.job_leases as l where l.job_id = p_job_id;
  return true;
end;
$$;

comment on function processor.release_job(bigint, uuid) is
  'Hand a claimed job back to the queue without spending an attempt; false when the claim is lost.';

-- cancel_job: called by the worker once it has stopped a job whose owner asked to cancel
-- (heartbeat returned cancel_requested). Returns false when the claim is lost.
create function processor.cancel_job(
  p_job_id bigint,
  p_claim_token uuid
)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  if not processor.hold_claim(p_job_id, p_claim_token) then
    return false;
  end if;

  update public.video_jobs as j
  set status = 'CANCELLED',
      error_code = 'cancelled',
      error_message = 'Cancelled at the owner''s request.',
      finished_at = now()
  where j.id = p_job_id;

  delete from processor.job_leases as l where l.job_id = p_job_id;
  return true;
end;
$$;

comment on function processor.cancel_job(bigint, uuid) is
  'Mark a claimed job CANCELLED after its worker stopped it; false when the claim is lost.';

-- reap_expired_leases: called periodically by every worker. Settles expired leases that
-- claim_jobs will not take again, so no dead job shows as PROCESSING: out of attempts ->
-- FAILED (lease_expired); cancel requested -> CANCELLED. A lease that a heartbeat extended
-- meanwhile is left alone. Returns the settled jobs.
create or replace function processor.reap_expired_leases()
returns table (job_id bigint, status public.processing_status)
language sql
volatile
set search_path = ''
as $$
  with expired as (
    select j.id
    from processor.job_leases as l
    join public.video_jobs as j on j.id = l.job_id
    where l.locked_until < now()
      and j.status = 'PROCESSING'
      and (j.attempts >= j.max_attempts or j.cancel_requested)
    for update of j skip locked
  ),
  dropped as (
    delete from processor.job_leases as l
    using expired
    where l.job_id = expired.id
      and l.locked_until < now()
    returning l.job_id
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
      finished_at = now()
  from dropped
  where j.id = dropped.job_id
  returning j.id, j.status;
$$;

comment on function processor.reap_expired_leases() is
  'Settle expired leases with no attempts left (FAILED lease_expired) or a pending cancel (CANCELLED).';

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table processor.job_leases enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on table processor.job_leases from public, anon, authenticated;
grant select, insert, update, delete on table processor.job_leases to vproc_processor;
grant all on table processor.job_leases to service_role;

revoke all on function
  processor.claim_jobs(text, integer, integer, integer),
  processor.hold_claim(bigint, uuid),
  processor.heartbeat(bigint, uuid, integer),
  processor.record_progress(bigint, uuid, text, real, jsonb),
  processor.write_metadata(bigint, jsonb),
  processor.save_metadata(bigint, uuid, jsonb),
  processor.complete_job(bigint, uuid, jsonb),
  processor.complete_jobs(jsonb),
  processor.fail_job(bigint, uuid, text, text, boolean, integer),
  processor.release_job(bigint, uuid),
  processor.cancel_job(bigint, uuid),
  processor.reap_expired_leases()
from public, anon, authenticated;

grant execute on function
  processor.claim_jobs(text, integer, integer, integer),
  processor.hold_claim(bigint, uuid),
  processor.heartbeat(bigint, uuid, integer),
  processor.record_progress(bigint, uuid, text, real, jsonb),
  processor.write_metadata(bigint, jsonb),
  processor.save_metadata(bigint, uuid, jsonb),
  processor.complete_job(bigint, uuid, jsonb),
  processor.complete_jobs(jsonb),
  processor.fail_job(bigint, uuid, text, text, boolean, integer),
  processor.release_job(bigint, uuid),
  processor.cancel_job(bigint, uuid),
  processor.reap_expired_leases()
to vproc_processor;

-- ==========================================================================================
-- policies
-- ==========================================================================================
create policy "processor manages leases"
  on processor.job_leases
  for all
  to vproc_processor
  using (true)
  with check (true);
