-- One processing job per video. Users read their jobs (and receive them through Realtime);
-- only the processor, through the processor.* queue functions, changes them.

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table public.video_jobs (
  id bigint generated always as identity primary key,
  video_id uuid not null unique references public.videos (id) on delete cascade,
  -- Copied from videos.uploader_user_id so RLS and Realtime filters need no join.
  owner_id uuid not null references auth.users (id) on delete cascade,
  status public.processing_status not null default 'PENDING',
  -- Higher runs first; ties go to the older job.
  priority integer not null default 0,
  attempts integer not null default 0,
  max_attempts integer not null default 3,
  run_after timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  heartbeat_at timestamptz,
  cancel_requested boolean not null default false,
  current_stage text,
  progress real not null default 0,
  processing_stages jsonb not null default '{}'::jsonb,
  error_code text,
  error_message text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint video_jobs_progress_check check (progress >= 0 and progress <= 1),
  constraint video_jobs_attempts_check check (attempts >= 0 and max_attempts >= 1),
  constraint video_jobs_processing_stages_check check (jsonb_typeof(processing_stages) = 'object'),
  -- A PROCESSING row always carries its lease; no other state does.
  constraint video_jobs_lease_check check (
    (status = 'PROCESSING') = (locked_by is not null and locked_until is not null)
  )
);

comment on table public.video_jobs is 'Processing job of a video; the queue. Written only through processor.* functions.';
comment on column public.video_jobs.progress is 'Overall progress, 0..1, throttled to about one write per second.';
comment on column public.video_jobs.processing_stages is 'Per stage: status, started_at, finished_at, duration_ms, detail.';

-- ==========================================================================================
-- indexes
-- ==========================================================================================
-- claim_jobs walks this index in claim order and stops after the batch: an index scan over
-- PENDING rows only, however many finished jobs the table holds.
create index video_jobs_pending_priority_id_idx
  on public.video_jobs (priority desc, id)
  where status = 'PENDING';

-- Expired leases (crashed workers) and the reaper.
create index video_jobs_processing_locked_until_idx
  on public.video_jobs (locked_until)
  where status = 'PROCESSING';

create index video_jobs_owner_id_idx on public.video_jobs (owner_id);

-- ==========================================================================================
-- triggers
-- ==========================================================================================
-- The queue's hot paths (claim, progress, completion) stamp updated_at themselves; the WHEN
-- clause, evaluated without calling the function, leaves those rows alone.
create trigger video_jobs_before_update_set_updated_at
  before update on public.video_jobs
  for each row
  when (old.updated_at is not distinct from new.updated_at)
  execute function processor.tg_set_updated_at();

-- Contract: every row that becomes PENDING (new video, retry, transient failure, release)
-- sends NOTIFY on channel `vproc_jobs` with the job id as payload. Workers treat it only as
-- a wake-up hint and never trust the payload; polling covers lost notifications.
create function processor.tg_video_jobs_notify()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('vproc_jobs', new.id::text);
  return null;
end;
$$;

comment on function processor.tg_video_jobs_notify() is 'Trigger: NOTIFY vproc_jobs when a job becomes PENDING.';

create trigger video_jobs_after_insert_notify
  after insert on public.video_jobs
  for each row
  when (new.status = 'PENDING')
  execute function processor.tg_video_jobs_notify();

create trigger video_jobs_after_update_notify
  after update of status on public.video_jobs
  for each row
  when (new.status = 'PENDING' and old.status is distinct from new.status)
  execute function processor.tg_video_jobs_notify();

-- Contract: inserting a video creates its PENDING job in the same transaction. Security
-- definer because the inserting user may not write video_jobs; the job's owner is always the
-- video's uploader, never a value the caller chooses.
create function processor.tg_videos_enqueue()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.video_jobs (video_id, owner_id)
  values (new.id, new.uploader_user_id);
  return null;
end;
$$;

comment on function processor.tg_videos_enqueue() is 'Trigger: creates the PENDING video_jobs row of a new video.';

create trigger videos_after_insert_enqueue
  after insert on public.videos
  for each row
  execute function processor.tg_videos_enqueue();

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table public.video_jobs enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on table public.video_jobs from public, anon, authenticated;
grant select on table public.video_jobs to authenticated;
grant select, update on table public.video_jobs to vproc_processor;
grant all on table public.video_jobs to service_role;
revoke all on function processor.tg_video_jobs_notify() from public, anon, authenticated;
revoke all on function processor.tg_videos_enqueue() from public, anon, authenticated;

-- ==========================================================================================
-- policies
-- ==========================================================================================
create policy "owners can read their jobs"
  on public.video_jobs
  for select
  to authenticated
  using (owner_id = (select auth.uid()));

create policy "processor can read all jobs"
  on public.video_jobs
  for select
  to vproc_processor
  using (true);

create policy "processor can update all jobs"
  on public.video_jobs
  for update
  to vproc_processor
  using (true)
  with check (true);
