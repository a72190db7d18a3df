-- The queue API in schema processor, called as the daemon's role vproc_processor: claim order
-- and lease, the claim-token fence on every later write, fail/retry, release and the
-- reaper. now() is the transaction's start time throughout, so lease arithmetic is exact and a
-- lease is expired by moving locked_until into the past, never by sleeping.
begin;
\ir _helpers.psql
select plan(41);

-- ==========================================================================================
-- seed (as the superuser)
-- ==========================================================================================
-- Claim order is global: start from an empty queue whatever the database held (rolled back).
delete from public.video_jobs;

select tests.create_user('alice@example.com') as user_a \gset

insert into public.videos (uploader_user_id, original_filename, storage_path)
values
  (:'user_a', 'low', :'user_a' || '/low.mp4'),
  (:'user_a', 'high1', :'user_a' || '/high1.mp4'),
  (:'user_a', 'high2', :'user_a' || '/high2.mp4'),
  (:'user_a', 'later', :'user_a' || '/later.mp4'),
  (:'user_a', 'last', :'user_a' || '/last.mp4'),
  (:'user_a', 'dead', :'user_a' || '/dead.mp4');

select
  max(j.id) filter (where v.original_filename = 'low') as job_low,
  max(j.id) filter (where v.original_filename = 'high1') as job_high1,
  max(j.id) filter (where v.original_filename = 'high2') as job_high2,
  max(j.id) filter (where v.original_filename = 'later') as job_later,
  max(j.id) filter (where v.original_filename = 'last') as job_last,
  max(j.id) filter (where v.original_filename = 'dead') as job_dead
from public.video_jobs as j
join public.videos as v on v.id = j.video_id
\gset

-- low: priority 0; high1 < high2: priority 5 (ids break the tie); later: top priority but not
-- due for an hour; last and dead: on their final attempt under live leases of other workers.
update public.video_jobs set priority = 5 where id in (:job_high1, :job_high2);
update public.video_jobs set priority = 10, run_after = now() + interval '1 hour' where id = :job_later;
update public.video_jobs
set status = 'PROCESSING', attempts = 3, max_attempts = 3
where id in (:job_last, :job_dead);
insert into processor.job_leases (job_id, claim_token, locked_by, locked_until)
values
  (:job_last, 'dddddddd-0000-4000-8000-000000000001', 'w9', now() + interval '5 minutes'),
  (:job_dead, 'dddddddd-0000-4000-8000-000000000002', 'w9', now() + interval '5 minutes');

-- Jobs with their lease, as the assertions below read them.
create view tests.job_state as
select j.*, l.locked_by, l.locked_until, l.heartbeat_at, l.claim_token
from public.video_jobs as j
left join processor.job_leases as l on l.job_id = j.id;
grant select on tests.job_state to vproc_processor;

select tests.authenticate_as_processor();

-- ==========================================================================================
-- claim_jobs: order, lease, attempts
-- ==========================================================================================
select results_eq(
  $$ select id from processor.claim_jobs('w1', 1, 300) $$,
  format('values (%s::bigint)', :job_high1),
  'the first claim takes the highest priority, oldest due job'
);
select claim_token as tok_high1 from processor.job_leases where job_id = :job_high1 \gset
select results_eq(
  format($$select status, attempts, locked_by, locked_until - now(), heartbeat_at = now(), started_at = now()
           from tests.job_state where id = %s$$, :job_high1),
  $$ values ('PROCESSING'::public.processing_status, 1, 'w1'::text, interval '300 seconds', true, true) $$,
  'a claim bumps attempts and sets the lease from the database clock'
);
select results_eq(
  $$ select id from processor.claim_jobs('w1', 1, 300) $$,
  format('values (%s::bigint)', :job_high2),
  'the second claim takes the tie on priority with the next id'
);
select claim_token as tok_high2 from processor.job_leases where job_id = :job_high2 \gset
select results_eq(
  $$ select id from processor.claim_jobs('w1', 5, 300) $$,
  format('values (%s::bigint)', :job_low),
  'a batch claim takes the lower priority job and nothing that is not due or still leased'
);
select claim_token as tok_low from processor.job_leases where job_id = :job_low \gset
select isnt(:'tok_high1'::uuid, :'tok_high2'::uuid, 'every claim gets its own token');
select is_empty(
  $$ select id from processor.claim_jobs('w2', 5, 300) $$,
  'with every due job claimed, a claim returns no row'
);

-- ==========================================================================================
-- the fence: any token but the claim's changes nothing
-- ==========================================================================================
select is_empty(
  format($$select * from processor.heartbeat(%s, gen_random_uuid(), 600)$$, :job_high1),
  'heartbeat with a token that is not the claim''s returns no row'
);
select is_empty(
  format($$select * from processor.heartbeat(%s, %L, 600)$$, :job_high1, :'tok_high2'),
  'heartbeat with another job''s token returns no row'
);
select is(
  processor.complete_job(:job_high1, :'tok_high2', '{"title": "hijacked"}'),
  false,
  'complete_job with another claim''s token returns false'
);
select is(
  processor.complete_job(:job_high1, gen_random_uuid()),
  false,
  'complete_job without metadata is fenced by its own check'
);
select is(
  processor.fail_job(:job_high1, gen_random_uuid(), 'internal', 'boom', false),
  null,
  'fail_job with a wrong token returns null'
);
select is(
  processor.record_progress(:job_high1, gen_random_uuid(), 'transcribe', 0.5, '{"probe": {"status": "completed"}}'),
  false,
  'record_progress with a wrong token returns false'
);
select is(
  processor.save_metadata(:job_high1, gen_random_uuid(), '{"title": "hijacked"}'),
  false,
  'save_metadata with a wrong token returns false'
);
select is(
  processor.release_job(:job_high1, gen_random_uuid()),
  false,
  'release_job with a wrong token returns false'
);
select is(
  processor.cancel_job(:job_high1, gen_random_uuid()),
  false,
  'cancel_job with a wrong token returns false'
);
select results_eq(
  format($$select status, attempts, locked_by, locked_until - now(), progress, processing_stages
           from tests.job_state where id = %s$$, :job_high1),
  $$ values ('PROCESSING'::public.processing_status, 1, 'w1'::text, interval '300 seconds', 0::real, '{}'::jsonb) $$,
  'the fenced-off calls left the job exactly as its worker had it'
);
select is_empty(
  format('select id from public.video_metadata where job_id = %s', :job_high1),
  'the fenced-off complete_job wrote no metadata'
);

-- ==========================================================================================
-- heartbeat and progress under the claim
-- ==========================================================================================
select results_eq(
  format($$select cancel_requested from processor.heartbeat(%s, %L, 600)$$, :job_high1, :'tok_high1'),
  $$ values (false) $$,
  'heartbeat from the claiming worker reports cancel_requested'
);
select is(
  processor.record_progress(:job_high1, :'tok_high1', 'transcribe', 0.5, '{"probe": {"status": "completed"}}'),
  true,
  'record_progress from the claiming worker succeeds'
);
select results_eq(
  format($$select locked_until - now(), current_stage, progress, processing_stages -> 'probe' ->> 'status'
           from tests.job_state where id = %s$$, :job_high1),
  $$ values (interval '600 seconds', 'transcribe'::text, 0.5::real, 'completed'::text) $$,
  'heartbeat extended the lease and progress was recorded'
);

-- ==========================================================================================
-- an expired lease is re-claimed; the old claim is fenced off for good
-- ==========================================================================================
select tests.clear_authentication();
update processor.job_leases set locked_until = now() - interval '1 minute' where job_id = :job_high2;
select tests.authenticate_as_processor();

select results_eq(
  $$ select id, attempts, locked_by from processor.claim_jobs('w2', 1, 300) $$,
  format($$values (%s::bigint, 2, 'w2'::text)$$, :job_high2),
  'an expired lease with attempts left is claimed again, spending an attempt'
);
select claim_token as tok_high2b from processor.job_leases where job_id = :job_high2 \gset
select is(
  processor.complete_job(:job_high2, :'tok_high2', '{"title": "stale"}'),
  false,
  'the claim that lost the lease cannot complete the job'
);
select is(
  processor.complete_job(:job_high2, :'tok_high2', null),
  false,
  'nor complete it without metadata'
);
select is(
  processor.complete_job(
    :job_high2, :'tok_high2b',
    '{"title": "Talk", "tags": ["a", "b"], "extracted_video_resolution": "1280x720", "owner_id": "00000000-0000-0000-0000-000000000000"}'
  ),
  true,
  'the current claim completes the job'
);
select results_eq(
  format($$select j.status, j.locked_by, j.progress, j.finished_at = now(), m.owner_id, m.title, m.tags
           from tests.job_state as j join public.video_metadata as m on m.job_id = j.id
           where j.id = %s$$, :job_high2),
  format($$values ('COMPLETED'::public.processing_status, null::text, 1::real, true, %L::uuid,
                   'Talk'::text, array['a', 'b'])$$, :'user_a'),
  'complete_job marks the job COMPLETED and saves metadata owned by the job''s owner'
);

-- ==========================================================================================
-- fail_job
-- ==========================================================================================
select is(
  processor.fail_job(:job_high1, :'tok_high1', 'storage_unavailable', 'S3 is down', true),
  'PENDING'::public.processing_status,
  'a retryable failure with attempts left goes back to PENDING'
);
select results_eq(
  format($$select run_after > now(), attempts, locked_by, locked_until, error_code, finished_at
           from tests.job_state where id = %s$$, :job_high1),
  $$ values (true, 1, null::text, null::timestamptz, 'storage_unavailable'::text, null::timestamptz) $$,
  'the retry waits out a backoff, keeps its attempt count and the error, and drops the lease'
);
select is_empty(
  $$ select id from processor.claim_jobs('w3', 5, 300) $$,
  'a job waiting out its backoff is not claimed'
);
select is(
  processor.fail_job(:job_low, :'tok_low', 'invalid_media', 'not a video', false),
  'FAILED'::public.processing_status,
  'a permanent failure is FAILED at once'
);
select results_eq(
  format($$select status, error_code, error_message, locked_by, finished_at = now()
           from tests.job_state where id = %s$$, :job_low),
  $$ values ('FAILED'::public.processing_status, 'invalid_media'::text, 'not a video'::text, null::text, true) $$,
  'a FAILED job carries its error and no lease'
);
select is(
  processor.fail_job(:job_last, 'dddddddd-0000-4000-8000-000000000001', 'ai_rate_limited', 'slow down', true),
  'FAILED'::public.processing_status,
  'a retryable failure on the last attempt is FAILED'
);

-- ==========================================================================================
-- release_job gives the attempt back
-- ==========================================================================================
select tests.clear_authentication();
update public.video_jobs set run_after = now() where id = :job_later;
select tests.authenticate_as_processor();

select results_eq(
  $$ select id, attempts from processor.claim_jobs('w4', 1, 300) $$,
  format('values (%s::bigint, 1)', :job_later),
  'a job becomes claimable once due'
);
select claim_token as tok_later from processor.job_leases where job_id = :job_later \gset
select is(
  processor.release_job(:job_later, :'tok_later'),
  true,
  'the claiming worker can release its job'
);
select results_eq(
  format($$select status, attempts, locked_by, run_after <= now() from tests.job_state where id = %s$$, :job_later),
  $$ values ('PENDING'::public.processing_status, 0, null::text, true) $$,
  'a released job is PENDING, due now, with its attempt given back'
);

-- ==========================================================================================
-- reap_expired_leases
-- ==========================================================================================
select is_empty(
  $$ select * from processor.reap_expired_leases() $$,
  'the reaper leaves live leases alone'
);

select tests.clear_authentication();
update processor.job_leases set locked_until = now() - interval '1 minute' where job_id = :job_dead;
select tests.authenticate_as_processor();

-- (This claim takes the released job; what matters is that the dead one is not among them.)
select is_empty(
  format($$select id from processor.claim_jobs('w5', 5, 300) where id = %s$$, :job_dead),
  'claim_jobs leaves an expired lease with no attempts left to the reaper'
);

select results_eq(
  $$ select * from processor.reap_expired_leases() $$,
  format($$values (%s::bigint, 'FAILED'::public.processing_status)$$, :job_dead),
  'the reaper settles an expired lease with no attempts left'
);
select results_eq(
  format($$select status, error_code, locked_by, locked_until, finished_at = now()
           from tests.job_state where id = %s$$, :job_dead),
  $$ values ('FAILED'::public.processing_status, 'lease_expired'::text, null::text, null::timestamptz, true) $$,
  'a reaped job is FAILED with error_code lease_expired and no lease'
);

-- ==========================================================================================
-- clients cannot reach the queue
-- ==========================================================================================
select tests.authenticate_as(:'user_a');

select throws_ok(
  $$ select * from processor.claim_jobs('evil', 10, 300) $$,
  '42501', 'permission denied for schema processor',
  'an authenticated user cannot claim jobs'
);
select throws_ok(
  $$ select * from processor.job_leases $$,
  '42501', 'permission denied for schema processor',
  'an authenticated user cannot read leases'
);
select is_empty(
  $$ select column_name from information_schema.columns
     where table_schema = 'public' and table_name = 'video_jobs'
       and column_name in ('locked_by', 'locked_until', 'heartbeat_at', 'claim_token') $$,
  'video_jobs, which users read and Realtime publishes, holds no lease bookkeeping'
);

select * from finish();
rollback;
