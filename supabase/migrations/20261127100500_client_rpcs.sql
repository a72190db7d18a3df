-- Client RPCs: what a signed-in user may ask of their own jobs, through PostgREST
-- (`supabase.rpc('retry_video_job', { job_id })`). Security definer because users cannot
-- write video_jobs; each function checks ownership itself with auth.uid().
--
-- Errors use PostgREST's custom-status SQLSTATEs, so the HTTP status says what went wrong:
--   PT404 - no such job among the caller's (another user's job looks exactly like none)
--   PT409 - the job is not in a state the action applies to

-- ==========================================================================================
-- functions
-- ==========================================================================================

-- retry_video_job: FAILED or CANCELLED -> PENDING, with a fresh set of attempts. Stage
-- checkpoints in processing_stages are kept, so the worker resumes after the last completed
-- stage. Returns the updated job.
create function public.retry_video_job(job_id bigint)
returns public.video_jobs
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_job public.video_jobs;
begin
  select *
  into v_job
  from public.video_jobs as j
  where j.id = retry_video_job.job_id
    and j.owner_id = (select auth.uid())
  for update;

  if not found then
    raise exception using
      errcode = 'PT404',
      message = format('job %s not found', retry_video_job.job_id);
  end if;

  if v_job.status not in ('FAILED', 'CANCELLED') then
    raise exception using
      errcode = 'PT409',
      message = format('job %s is %s; only FAILED or CANCELLED jobs can be retried', v_job.id, v_job.status),
      hint = 'Wait for the job to finish, or cancel it first.';
  end if;

  update public.video_jobs as j
  set status = 'PENDING',
      attempts = 0,
      run_after = now(),
      cancel_requested = false,
      current_stage = null,
      progress = 0,
      error_code = null,
      error_message = null,
      started_at = null,
      finished_at = null
  where j.id = v_job.id
  returning * into v_job;

  return v_job;
end;
$$;

comment on function public.retry_video_job(bigint) is
  'Owner only: put a FAILED or CANCELLED job back in the queue. PT404 unknown job, PT409 wrong state.';

-- cancel_video_job: PENDING -> CANCELLED at once; PROCESSING -> cancel_requested, which the
-- worker sees at its next heartbeat (it then stops the job and marks it CANCELLED).
-- Asking again while the request is pending is not an error. Returns the updated job.
create function public.cancel_video_job(job_id bigint)
returns public.video_jobs
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_job public.video_jobs;
begin
  select *
  into v_job
  from public.video_jobs as j
  where j.id = cancel_video_job.job_id
    and j.owner_id = (select auth.uid())
  for update;

  if not found then
    raise exception using
      errcode = 'PT404',
      message = format('job %s not found', cancel_video_job.job_id);
  end if;

  if v_job.status = 'PENDING' then
    update public.video_jobs as j
    set status = 'CANCELLED',
        error_code = 'cancelled',
        error_message = 'Cancelled at the owner''s request.',
        finished_at = now()
    where j.id = v_job.id
    returning * into v_job;
  elsif v_job.status = 'PROCESSING' then
    update public.video_jobs as j
    set cancel_requested = true
    where j.id = v_job.id
    returning * into v_job;
  else
    raise exception using
      errcode = 'PT409',
      message = format('job %s is %s; only PENDING or PROCESSING jobs can be cancelled', v_job.id, v_job.status);
  end if;

  return v_job;
end;
$$;

comment on function public.cancel_video_job(bigint) is
  'Owner only: cancel a PENDING job, or ask the worker to stop a PROCESSING one. PT404 unknown job, PT409 wrong state.';

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on function public.retry_video_job(bigint) from public, anon, authenticated;
revoke all on function public.cancel_video_job(bigint) from public, anon, authenticated;
grant execute on function public.retry_video_job(bigint) to authenticated, service_role;
grant execute on function public.cancel_video_job(bigint) to authenticated, service_role;
