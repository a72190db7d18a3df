-- What a job costs the database per state change and per progress write.
--
-- Supersedes processor.tg_video_jobs_broadcast() from 20261201110000_create_job_broadcasts.sql
-- and processor.record_progress from 20261201100100_move_job_leases.sql (whole bodies below).
--
-- Every update of a video_jobs row is WAL that Supabase decodes, and every write on the
-- queue's hot path (claim, completion) is paid once per job. So:
--   * The Broadcast trigger writes its throttle's state (processor.job_broadcasts) only for
--     the events the throttle governs: stage changes and progress, which come at most once a
--     second per job. A status change (insert, claim, completion, failure, retry, cancel) is
--     always sent and needs no state: the claim's event was sent at the attempt's started_at,
--     so a job with no state, or only state older than its started_at, had its last event
--     then. The event contract of 20261201110000 is unchanged.
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
