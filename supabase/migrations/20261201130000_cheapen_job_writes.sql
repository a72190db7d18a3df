-- What a job costs the database per state change and per progress write.
--
-- Supersedes processor.tg_video_jobs_broadcast() from 20261201110000_create_job_broadcasts.sql,
-- processor.claim_jobs and processor.record_progress from 20261201100100_move_job_leases.sql
-- (whole bodies below; signatures, grants and the fence unchanged).
--
-- Every update of a video_jobs row is WAL that Supabase decodes, and every write on the
-- queue's hot path (claim, completion) is paid once per job. So:
--   * The Broadcast trigger writes its throttle's state (processor.job_broadcasts) only for
--     the events the throttle governs: stage changes and progress, which come at most once a
--     second per job. A status change (insert, claim, completion, failure, retry, cancel) is
--     always sent and needs no state: the claim's event was sent at the attempt's started_at,
--     so a job with no state, or only state older than its started_at, had its last event
--     then. The event contract of 20261201110000 is unchanged.
--   * claim_jobs updates the claimed rows by primary key (joined with the new leases, the
--     planner hashed the whole table, every job ever queued, on each claim) and keeps one
--     generic plan instead of re-planning its statement on every call; it declares the rows
--     of a batch, so the worker's join to public.videos looks videos up by key (with the
--     default estimate of 1,000 rows it hashed the whole videos table on every claim).
--   * A claim commits asynchronously (synchronous_commit off for the claiming transaction),
--     so the time from insert to handler is not a disk flush longer. Safe because nothing
--     durable depends on a claim until the worker's first fenced write, and every fenced
--     write commits synchronously, which flushes the WAL up to and including the claim. If
--     the server crashes before that, the recovered job is still PENDING with no lease: the
--     worker's next fenced write finds its token gone and stops (LeaseLostError), and the
--     job is claimed again, as after an expired lease.
--   * record_progress writes nothing when nothing would change (same stage, same progress,
--     stage entries already as given); it still answers whether the claim holds.

-- ==========================================================================================
-- functions
-- ==========================================================================================
create or replace function processor.tg_video_jobs_broadcast()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_step smallint;
  v_last_step smallint;
  v_last_sent_at timestamptz;
begin
  if tg_op = 'DELETE' then
    perform realtime.send(
      pg_catalog.jsonb_build_object('id', old.id, 'video_id', old.video_id),
      'job_deleted',
      'jobs:' || old.owner_id::text,
      true
    );
    return null;
  end if;

  v_step := pg_catalog.floor(new.progress * 20)::smallint;

  if tg_op = 'UPDATE'
    and new.status is not distinct from old.status
    and new.current_stage is not distinct from old.current_stage then
    -- Progress alone: one event per 5 % step, none within 2 s of the previous one.
    select b.progress_step, b.sent_at
    into v_last_step, v_last_sent_at
    from processor.job_broadcasts as b
    where b.job_id = new.id;

    if not found or v_last_sent_at < new.started_at then
      -- No event of this attempt but its claim's, sent at started_at with the old progress.
      v_last_step := pg_catalog.floor(old.progress * 20)::smallint;
      v_last_sent_at := coalesce(new.started_at, '-infinity'::timestamptz);
    end if;

    if v_last_step = v_step or v_last_sent_at > now() - interval '2 seconds' then
      return null;
    end if;
  end if;

  perform realtime.send(
    pg_catalog.jsonb_build_object(
      'id', new.id,
      'video_id', new.video_id,
      'status', new.status,
      'current_stage', new.current_stage,
      'progress', new.progress,
      'error_code', new.error_code,
      'updated_at', new.updated_at
    ),
    'job_updated',
    'jobs:' || new.owner_id::text,
    true
  );

  -- Status changes need no throttle state (see the header); stage and progress events do.
  if tg_op = 'UPDATE' and new.status is not distinct from old.status then
    insert into processor.job_broadcasts as b (job_id, progress_step, sent_at)
    values (new.id, v_step, now())
    on conflict (job_id) do update
    set progress_step = excluded.progress_step,
        sent_at = excluded.sent_at;
  end if;

  return null;
end;
$$;

comment on function processor.tg_video_jobs_broadcast() is
  'Trigger: Broadcast a throttled job event (or the delete) on the owner''s private topic jobs:<owner_id>.';

-- claim_jobs: called by a worker with free slots. Atomically claims up to p_batch_size jobs:
-- PROCESSING jobs whose lease expired with attempts left (their worker died), then due
-- PENDING jobs round-robin across owners (see Fairness above). SKIP LOCKED lets any number
-- of workers claim concurrently without blocking on or double-claiming a row another
-- transaction is claiming. Returns the claimed jobs, in claim order, with their new lease and
-- claim token; no rows when there is nothing to do.
create or replace function processor.claim_jobs(
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
-- Left to choose, the plan cache re-plans this statement on every call (about 0.4 ms, more
-- than a one-job claim's execution): its generic plan is the same index walk.
set plan_cache_mode = force_generic_plan
-- A batch, not the default 1,000 rows: a caller joining the claimed jobs to their videos
-- then looks each video up by key instead of hashing the whole videos table.
rows 10
as $$
begin
  -- The claiming transaction commits without waiting for its WAL to reach disk (see the
  -- header): a claim lost in a crash fences out its worker, it never loses work.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);

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
    -- By primary key (= any of an array): a join with `leased` would let the planner hash
    -- the whole table, a scan of every job ever queued on each claim.
    update public.video_jobs as j
    set status = 'PROCESSING',
        attempts = j.attempts + 1,
        -- The worker's JOB_MAX_ATTEMPTS is the policy; never below the attempt being started.
        max_attempts = greatest(coalesce(p_max_attempts, j.max_attempts), j.attempts + 1),
        started_at = now(),
        finished_at = null,
        updated_at = now()
    where j.id = any (array(select l.job_id from leased as l))
    returning j.id, j.video_id, j.owner_id, j.status, j.priority, j.attempts, j.max_attempts,
      j.cancel_requested, j.processing_stages
  )
  select c.id, c.video_id, c.owner_id, c.status, c.priority, c.attempts, c.max_attempts,
    c.cancel_requested, c.processing_stages, l.claim_token, l.locked_by, l.locked_until
  from claimed as c
  join leased as l on l.job_id = c.id
  join picked as p on p.id = c.id
  order by p.turn, p.priority desc, p.id;
end;
$$;

comment on function processor.claim_jobs(text, integer, integer, integer) is
  'Claim up to p_batch_size abandoned or due jobs for p_worker_id, owners round-robin (FOR UPDATE SKIP LOCKED).';

-- record_progress: called by the worker's progress throttle (at most one write per whole
-- percent and per second). p_stages is merged into processing_stages key by key (one key per
-- stage), so each call sends only the stages that changed. Writes nothing when nothing would
-- change. Returns false when the claim is lost.
create or replace function processor.record_progress(
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
  where j.id = p_job_id
    and (
      j.current_stage is distinct from p_current_stage
      or j.progress <> least(greatest(coalesce(p_progress, j.progress), 0), 1)
      or j.processing_stages <> j.processing_stages || coalesce(p_stages, '{}'::jsonb)
    );

  return true;
end;
$$;

comment on function processor.record_progress(bigint, uuid, text, real, jsonb) is
  'Write current_stage, progress and changed processing_stages of a claimed job (nothing when nothing changes); false when the claim is lost.';
