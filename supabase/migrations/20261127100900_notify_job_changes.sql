-- Job change notifications for server-side watchers (`vproc watch`): every change of a job's
-- status, stage or progress sends NOTIFY on channel `vproc_job_changes` with a small JSON
-- payload {"id", "status"}. Browsers use Realtime instead; this channel serves processes
-- connected to the database. Progress writes are throttled to about one per second per job,
-- which bounds the rate.

-- ==========================================================================================
-- triggers
-- ==========================================================================================
create function processor.tg_video_jobs_notify_change()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify(
    'vproc_job_changes',
    pg_catalog.json_build_object('id', new.id, 'status', new.status)::text
  );
  return null;
end;
$$;

comment on function processor.tg_video_jobs_notify_change() is
  'Trigger: NOTIFY vproc_job_changes when a job''s status, stage or progress changes.';

create trigger video_jobs_after_update_notify_change
  after update of status, current_stage, progress, cancel_requested on public.video_jobs
  for each row
  execute function processor.tg_video_jobs_notify_change();

create trigger video_jobs_after_insert_notify_change
  after insert on public.video_jobs
  for each row
  execute function processor.tg_video_jobs_notify_change();

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on function processor.tg_video_jobs_notify_change() from public, anon, authenticated;
