-- Job events for browsers and `vproc watch --realtime`: Broadcast from the database on
-- private channels, replacing postgres_changes on public.video_jobs (whose removal from the
-- supabase_realtime publication is 20261201110200; the read policy is 20261201110100).
--
-- Contract. Every job event is one row in realtime.messages, sent with
-- realtime.send(payload, event, 'jobs:<owner_id>', private => true); Realtime streams it to
-- the owner's private channel `jobs:<owner_id>`.
--   event 'job_updated'  payload {id, video_id, status, current_stage, progress, error_code,
--                        updated_at}: the job's public state, never worker internals (lease,
--                        worker id, attempts, error_message, processing_stages).
--   event 'job_deleted'  payload {id, video_id}: the job is gone (its video was deleted).
-- A 'job_updated' goes out when a job is created, on every status change (the terminal
-- COMPLETED / FAILED / CANCELLED always), on every change of current_stage, and for progress
-- alone when it enters a new 5 % step and the job's previous event is at least 2 s old.
-- So a job sends at most about 30 events per attempt however long it runs (3 statuses,
-- 6 stages, 20 steps, many of them the same event), and Realtime's load follows the job
-- rate, not processing time. A progress step skipped by the 2 s rule shows up with the next
-- step, stage or status; clients re-read the job when they (re)join, so none is needed.
--
-- Cost on the hot path: the trigger's WHEN clause is evaluated without calling the function,
-- so a heartbeat or a progress write inside the same 5 % step costs nothing more. The
-- throttle's state (the step and time of the last event) lives in processor.job_broadcasts,
-- one row per job, read by primary key and written only when an event is sent.
-- realtime.send never raises (a failure becomes a WARNING), so an event can be lost but a
-- job's write can never fail because of Realtime.

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table processor.job_broadcasts (
  job_id bigint primary key references public.video_jobs (id) on delete cascade,
  -- floor(progress * 20) of the last event sent.
  progress_step smallint not null,
  sent_at timestamptz not null
);

comment on table processor.job_broadcasts is
  'Per job: the progress step and time of its last Broadcast event (the throttle''s state).';

-- ==========================================================================================
-- triggers
-- ==========================================================================================
-- Realtime creates realtime.send on every Supabase project (the local stand-in too). Without
-- it every job write would fail at run time, so refuse to install the triggers instead.
do $$
begin
  if pg_catalog.to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    raise exception 'realtime.send(jsonb, text, text, boolean) is missing: is Supabase Realtime enabled on this database?';
  end if;
end
$$;

-- Security definer: the writer (vproc_processor, or a user through an RPC) may neither
-- write realtime.messages nor the throttle's table; the topic is always the job's owner.
create function processor.tg_video_jobs_broadcast()
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

    if found and (v_last_step = v_step or v_last_sent_at > now() - interval '2 seconds') then
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

  insert into processor.job_broadcasts as b (job_id, progress_step, sent_at)
  values (new.id, v_step, now())
  on conflict (job_id) do update
  set progress_step = excluded.progress_step,
      sent_at = excluded.sent_at;

  return null;
end;
$$;

comment on function processor.tg_video_jobs_broadcast() is
  'Trigger: Broadcast a throttled job event (or the delete) on the owner''s private topic jobs:<owner_id>.';

create trigger video_jobs_after_insert_broadcast
  after insert on public.video_jobs
  for each row
  execute function processor.tg_video_jobs_broadcast();

-- Only these changes can produce an event; anything else never calls the function.
create trigger video_jobs_after_update_broadcast
  after update of status, current_stage, progress on public.video_jobs
  for each row
  when (
    old.status is distinct from new.status
    or old.current_stage is distinct from new.current_stage
    or pg_catalog.floor(old.progress * 20) <> pg_catalog.floor(new.progress * 20)
  )
  execute function processor.tg_video_jobs_broadcast();

create trigger video_jobs_after_delete_broadcast
  after delete on public.video_jobs
  for each row
  execute function processor.tg_video_jobs_broadcast();

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table processor.job_broadcasts enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on table processor.job_broadcasts from public, anon, authenticated;
revoke all on function processor.tg_video_jobs_broadcast() from public, anon, authenticated;
