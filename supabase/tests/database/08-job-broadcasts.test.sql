-- Job events: the video_jobs trigger broadcasts a job's public state on its owner's private
-- topic `jobs:<owner_id>`: on creation and every status and stage change (the terminal one
-- always), progress alone only per 5 % step and 2 s apart, and `job_deleted` when it goes.
-- The whole file is one transaction, so now() stands still: no 2 s ever pass.
begin;
\ir _helpers.psql
select plan(8);

select tests.create_user('alice@example.com') as user_a \gset

select tests.authenticate_as(:'user_a');
insert into public.videos (original_filename, storage_path)
values ('a.mp4', :'user_a' || '/x/a.mp4')
returning id as video_id \gset
select tests.clear_authentication();
select id as job_id from public.video_jobs where video_id = :'video_id' \gset

-- ==========================================================================================
-- a new job
-- ==========================================================================================
select results_eq(
  format($$ select event, topic, private, extension from realtime.messages
            where payload ->> 'id' = %L $$, :'job_id'),
  format($$ values ('job_updated'::text, %L::text, true, 'broadcast'::text) $$, 'jobs:' || :'user_a'),
  'a new job sends one private job_updated on its owner''s topic'
);
select is(
  (select array_agg(k order by k)
   from realtime.messages as m, jsonb_object_keys(m.payload) as k
   where m.payload ->> 'id' = :'job_id'),
  array['current_stage', 'error_code', 'id', 'progress', 'status', 'updated_at', 'video_id'],
  'the payload carries the job''s public fields and nothing else'
);

-- ==========================================================================================
-- the processor runs it
-- ==========================================================================================
select tests.authenticate_as_processor();
select claim_token from processor.claim_jobs('w1', 1, 300) \gset
select processor.record_progress(:job_id, :'claim_token', 'probe', 0.01);
select processor.record_progress(:job_id, :'claim_token', 'probe', 0.30);
select processor.record_progress(:job_id, :'claim_token', 'transcribe', 0.40);
select processor.record_progress(:job_id, :'claim_token', 'transcribe', 0.90);
select * from processor.heartbeat(:job_id, :'claim_token', 300);
select processor.complete_job(:job_id, :'claim_token');
select tests.clear_authentication();

select results_eq(
  format($$ select payload ->> 'status', payload ->> 'current_stage' from realtime.messages
            where payload ->> 'id' = %L order by ctid $$, :'job_id'),
  $$ values ('PENDING'::text, null::text), ('PROCESSING', null), ('PROCESSING', 'probe'),
            ('PROCESSING', 'transcribe'), ('COMPLETED', null) $$,
  'every status and stage change is sent, the end included; progress alone within 2 s and heartbeats are not'
);
select is(
  (select (payload ->> 'progress')::real from realtime.messages
   where payload ->> 'id' = :'job_id' and payload ->> 'status' = 'COMPLETED'),
  1::real,
  'the terminal event says progress 1'
);
select results_eq(
  format($$ select progress_step from processor.job_broadcasts where job_id = %s $$, :job_id),
  $$ values (8::smallint) $$,
  'the throttle remembers the step of the last stage or progress event; status events write no state'
);

-- ==========================================================================================
-- the owner deletes the video
-- ==========================================================================================
select tests.authenticate_as(:'user_a');
delete from public.videos where id = :'video_id';
select tests.clear_authentication();

select results_eq(
  format($$ select event, topic, payload from realtime.messages
            where payload ->> 'id' = %L and event = 'job_deleted' $$, :'job_id'),
  format($$ values ('job_deleted'::text, %L::text, %L::jsonb) $$,
         'jobs:' || :'user_a', jsonb_build_object('id', :job_id, 'video_id', :'video_id')),
  'deleting the video sends job_deleted with the job and video ids'
);
select is_empty(
  format($$ select 1 from processor.job_broadcasts where job_id = %s $$, :job_id),
  'the throttle forgets a deleted job'
);
select ok(
  not pg_catalog.has_table_privilege('authenticated', 'processor.job_broadcasts', 'select')
  and not pg_catalog.has_table_privilege('anon', 'processor.job_broadcasts', 'select')
  and not pg_catalog.has_table_privilege('vproc_processor', 'processor.job_broadcasts', 'update'),
  'only the trigger writes the throttle''s state'
);

select * from finish();
rollback;
