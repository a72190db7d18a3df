-- Client RPCs retry_video_job and cancel_video_job: owners move their own jobs along the
-- allowed edges; another user's job looks like no job (PT404); a job in the wrong state is
-- refused (PT409); anon cannot call them.
begin;
\ir _helpers.psql
select plan(20);

-- ==========================================================================================
-- seed (as the superuser): one job of A's in each interesting state, one of B's
-- ==========================================================================================
select tests.create_user('alice@example.com') as user_a \gset
select tests.create_user('bob@example.com') as user_b \gset

insert into public.videos (uploader_user_id, original_filename, storage_path)
values
  (:'user_a', 'failed', :'user_a' || '/failed.mp4'),
  (:'user_a', 'cancelled', :'user_a' || '/cancelled.mp4'),
  (:'user_a', 'pending', :'user_a' || '/pending.mp4'),
  (:'user_a', 'processing', :'user_a' || '/processing.mp4'),
  (:'user_a', 'completed', :'user_a' || '/completed.mp4'),
  (:'user_b', 'bob', :'user_b' || '/bob.mp4');

select
  max(j.id) filter (where v.original_filename = 'failed') as job_failed,
  max(j.id) filter (where v.original_filename = 'cancelled') as job_cancelled,
  max(j.id) filter (where v.original_filename = 'pending') as job_pending,
  max(j.id) filter (where v.original_filename = 'processing') as job_processing,
  max(j.id) filter (where v.original_filename = 'completed') as job_completed,
  max(j.id) filter (where v.original_filename = 'bob') as job_b
from public.video_jobs as j
join public.videos as v on v.id = j.video_id
\gset

update public.video_jobs
set status = 'FAILED', attempts = 3, progress = 0.4, current_stage = 'transcribe',
    error_code = 'invalid_media', error_message = 'bad', started_at = now(), finished_at = now()
where id = :job_failed;
update public.video_jobs
set status = 'CANCELLED', attempts = 1, error_code = 'cancelled', finished_at = now()
where id = :job_cancelled;
update public.video_jobs
set status = 'PROCESSING', attempts = 1
where id = :job_processing;
insert into processor.job_leases (job_id, claim_token, locked_by, locked_until)
values (:job_processing, gen_random_uuid(), 'w1', now() + interval '5 minutes');
update public.video_jobs
set status = 'COMPLETED', attempts = 1, progress = 1, finished_at = now()
where id = :job_completed;
update public.video_jobs
set status = 'FAILED', attempts = 3, error_code = 'invalid_media', finished_at = now()
where id = :job_b;

select tests.authenticate_as(:'user_a');

-- ==========================================================================================
-- retry_video_job
-- ==========================================================================================
select results_eq(
  format('select status, attempts, progress, current_stage, error_code, error_message, finished_at
          from public.retry_video_job(%s)', :job_failed),
  $$ values ('PENDING'::public.processing_status, 0, 0::real, null::text, null::text, null::text, null::timestamptz) $$,
  'an owner can retry a FAILED job: PENDING, fresh attempts, error and progress cleared'
);
select results_eq(
  format('select status, attempts from public.video_jobs where id = %s', :job_failed),
  $$ values ('PENDING'::public.processing_status, 0) $$,
  'the retry is stored, not only returned'
);
select results_eq(
  format('select status from public.retry_video_job(%s)', :job_cancelled),
  $$ values ('PENDING'::public.processing_status) $$,
  'an owner can retry a CANCELLED job'
);
select throws_ok(
  format('select public.retry_video_job(%s)', :job_pending),
  'PT409', format('job %s is PENDING; only FAILED or CANCELLED jobs can be retried', :job_pending),
  'retrying a PENDING job is refused'
);
select throws_ok(
  format('select public.retry_video_job(%s)', :job_processing),
  'PT409', format('job %s is PROCESSING; only FAILED or CANCELLED jobs can be retried', :job_processing),
  'retrying a PROCESSING job is refused'
);
select throws_ok(
  format('select public.retry_video_job(%s)', :job_completed),
  'PT409', format('job %s is COMPLETED; only FAILED or CANCELLED jobs can be retried', :job_completed),
  'retrying a COMPLETED job is refused'
);
select throws_ok(
  format('select public.retry_video_job(%s)', :job_b),
  'PT404', format('job %s not found', :job_b),
  'retrying another user''s job looks like retrying no job'
);
select throws_ok(
  'select public.retry_video_job(-1)',
  'PT404', 'job -1 not found',
  'retrying an unknown job is PT404'
);

-- ==========================================================================================
-- cancel_video_job
-- ==========================================================================================
select results_eq(
  format('select status, error_code, finished_at is not null from public.cancel_video_job(%s)', :job_pending),
  $$ values ('CANCELLED'::public.processing_status, 'cancelled'::text, true) $$,
  'an owner can cancel a PENDING job at once'
);
select results_eq(
  format($$select status, cancel_requested, to_jsonb(c) ? 'locked_by'
           from public.cancel_video_job(%s) as c$$, :job_processing),
  $$ values ('PROCESSING'::public.processing_status, true, false) $$,
  'cancelling a PROCESSING job asks its worker to stop; the row it returns names no worker'
);
select lives_ok(
  format('select public.cancel_video_job(%s)', :job_processing),
  'asking again while the cancel request is pending is not an error'
);
select throws_ok(
  format('select public.cancel_video_job(%s)', :job_completed),
  'PT409', format('job %s is COMPLETED; only PENDING or PROCESSING jobs can be cancelled', :job_completed),
  'cancelling a COMPLETED job is refused'
);
select throws_ok(
  format('select public.cancel_video_job(%s)', :job_pending),
  'PT409', format('job %s is CANCELLED; only PENDING or PROCESSING jobs can be cancelled', :job_pending),
  'cancelling a CANCELLED job is refused'
);
select throws_ok(
  format('select public.cancel_video_job(%s)', :job_b),
  'PT404', format('job %s not found', :job_b),
  'cancelling another user''s job looks like cancelling no job'
);

-- ==========================================================================================
-- the other user's job, seen by its owner
-- ==========================================================================================
select tests.authenticate_as(:'user_b');

select results_eq(
  format('select status, attempts, error_code from public.video_jobs where id = %s', :job_b),
  $$ values ('FAILED'::public.processing_status, 3, 'invalid_media'::text) $$,
  'the attacks left the other user''s job untouched'
);
select results_eq(
  format('select status from public.retry_video_job(%s)', :job_b),
  $$ values ('PENDING'::public.processing_status) $$,
  'its owner can still retry it'
);
select throws_ok(
  format('select public.cancel_video_job(%s)', :job_completed),
  'PT404', format('job %s not found', :job_completed),
  'the ownership check works both ways'
);

-- ==========================================================================================
-- anon
-- ==========================================================================================
select tests.authenticate_as_anon();

select throws_ok(
  format('select public.retry_video_job(%s)', :job_b),
  '42501', 'permission denied for function retry_video_job',
  'anon cannot execute retry_video_job'
);
select throws_ok(
  format('select public.cancel_video_job(%s)', :job_b),
  '42501', 'permission denied for function cancel_video_job',
  'anon cannot execute cancel_video_job'
);

select tests.clear_authentication();

select results_eq(
  format('select status from public.video_jobs where id = %s', :job_b),
  $$ values ('PENDING'::public.processing_status) $$,
  'anon''s attempts changed nothing'
);

select * from finish();
rollback;
