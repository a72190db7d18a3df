-- Deleting a video deletes its files. When a video row goes (and with it, by cascade, its job
-- and metadata), triggers record what it left in storage: the uploaded object in `videos`
-- and the job's artifacts under `<owner_id>/<job_id>/` in `video-artifacts`. The worker's
-- reaper works through this outbox (claim, delete the objects, finish), retrying failures.
-- Rows hold bucket roles, not names: the worker maps them to VIDEOS_BUCKET/ARTIFACTS_BUCKET.

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table processor.storage_cleanup (
  id bigint generated always as identity primary key,
  bucket_role text not null,
  -- An object key (videos) or a `<owner_id>/<job_id>/` folder (artifacts).
  object_path text not null,
  attempts integer not null default 0,
  run_after timestamptz not null default now(),
  created_at timestamptz not null default now(),
  constraint storage_cleanup_bucket_role_check check (bucket_role in ('videos', 'artifacts'))
);

comment on table processor.storage_cleanup is
  'Objects left in storage by deleted videos, waiting for the worker to delete them.';

-- ==========================================================================================
-- indexes
-- ==========================================================================================
create index storage_cleanup_run_after_idx on processor.storage_cleanup (run_after);

-- ==========================================================================================
-- triggers
-- ==========================================================================================
-- Security definer: the deleting user may not write processor tables.
create function processor.tg_videos_cleanup()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into processor.storage_cleanup (bucket_role, object_path)
  values ('videos', old.storage_path);
  return null;
end;
$$;

comment on function processor.tg_videos_cleanup() is
  'Trigger: queue the deleted video''s uploaded object for deletion.';

create trigger videos_after_delete_cleanup
  after delete on public.videos
  for each row
  execute function processor.tg_videos_cleanup();

create function processor.tg_video_jobs_cleanup()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into processor.storage_cleanup (bucket_role, object_path)
  values ('artifacts', old.owner_id::text || '/' || old.id::text || '/');
  return null;
end;
$$;

comment on function processor.tg_video_jobs_cleanup() is
  'Trigger: queue the deleted job''s artifacts folder for deletion.';

create trigger video_jobs_after_delete_cleanup
  after delete on public.video_jobs
  for each row
  execute function processor.tg_video_jobs_cleanup();

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table processor.storage_cleanup enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on table processor.storage_cleanup from public, anon, authenticated;
grant select, update, delete on table processor.storage_cleanup to vproc_processor;
revoke all on function processor.tg_videos_cleanup() from public, anon, authenticated;
revoke all on function processor.tg_video_jobs_cleanup() from public, anon, authenticated;

-- ==========================================================================================
-- policies
-- ==========================================================================================
create policy "processor can work through storage cleanup"
  on processor.storage_cleanup
  for all
  to vproc_processor
  using (true)
  with check (true);

-- ==========================================================================================
-- functions
-- ==========================================================================================

-- claim_storage_cleanup: called by the worker's reaper. Takes up to p_limit due rows (SKIP
-- LOCKED, so workers share the outbox) and pushes their run_after out by a backoff, so a
-- worker that dies mid-cleanup only delays them. Returns the claimed rows.
create function processor.claim_storage_cleanup(p_limit integer default 20)
returns setof processor.storage_cleanup
language sql
volatile
set search_path = ''
as $$
  with due as (
    select c.id
    from processor.storage_cleanup as c
    where c.run_after <= now()
    order by c.run_after, c.id
    limit p_limit
    for update skip locked
  )
  update processor.storage_cleanup as c
  set attempts = c.attempts + 1,
      run_after = now() + processor.retry_backoff(c.attempts + 1)
  from due
  where c.id = due.id
  returning c.*;
$$;

comment on function processor.claim_storage_cleanup(integer) is
  'Claim due storage cleanup rows for a worker (SKIP LOCKED); their retry is scheduled.';

-- finish_storage_cleanup: the objects of row p_id are gone; forget it.
create function processor.finish_storage_cleanup(p_id bigint)
returns boolean
language sql
volatile
set search_path = ''
as $$
  with deleted as (
    delete from processor.storage_cleanup as c
    where c.id = p_id
    returning 1
  )
  select exists (select 1 from deleted);
$$;

comment on function processor.finish_storage_cleanup(bigint) is
  'Remove a storage cleanup row once its objects are deleted.';

revoke all on function
  processor.claim_storage_cleanup(integer),
  processor.finish_storage_cleanup(bigint)
from public, anon, authenticated;

grant execute on function
  processor.claim_storage_cleanup(integer),
  processor.finish_storage_cleanup(bigint)
to vproc_processor;
