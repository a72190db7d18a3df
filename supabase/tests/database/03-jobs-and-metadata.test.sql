-- video_jobs and video_metadata: the enqueue trigger creates a job owned by the uploader;
-- owners read their own jobs and metadata and nothing else; nobody but the processor writes
-- either table; anon gets nothing.
begin;
\ir _helpers.psql
select plan(23);

-- ==========================================================================================
-- seed (as the superuser)
-- ==========================================================================================
select tests.create_user('alice@example.com') as user_a \gset
select tests.create_user('bob@example.com') as user_b \gset

insert into public.videos (id, uploader_user_id, storage_path)
values ('bbbbbbbb-0000-4000-8000-000000000001', :'user_b', :'user_b' || '/bob.mp4');

select id as job_b from public.video_jobs where video_id = 'bbbbbbbb-0000-4000-8000-000000000001' \gset

insert into public.video_metadata (job_id, owner_id, title, transcript_text)
values (:job_b, :'user_b', 'Bob''s secret', 'bob says hi');

-- ==========================================================================================
-- the enqueue trigger
-- ==========================================================================================
select tests.authenticate_as(:'user_a');

-- A user may not write video_jobs, yet adding a video must enqueue it: the security definer
-- trigger does that, with the uploader as owner.
insert into public.videos (id, storage_path)
values ('aaaaaaaa-0000-4000-8000-000000000001', tests.get_user_id('alice@example.com') || '/a.mp4');

select results_eq(
  $$ select owner_id, status, attempts, retries from public.video_jobs
     where video_id = 'aaaaaaaa-0000-4000-8000-000000000001' $$,
  format($$values (%L::uuid, 'PENDING'::public.processing_status, 0, 0)$$, :'user_a'),
  'adding a video enqueues one PENDING job owned by the uploader'
);

select tests.clear_authentication();
select id as job_a from public.video_jobs where video_id = 'aaaaaaaa-0000-4000-8000-000000000001' \gset
insert into public.video_metadata (job_id, owner_id, title, tags)
values (:job_a, :'user_a', 'Alice''s talk', array['talk']);

-- ==========================================================================================
-- video_jobs
-- ==========================================================================================
select tests.authenticate_as(:'user_a');

select results_eq(
  $$ select count(*) from public.video_jobs $$,
  $$ values (1::bigint) $$,
  'a user sees exactly their own jobs'
);
select is_empty(
  format('select id from public.video_jobs where id = %s', :job_b),
  'a user cannot read another user''s job'
);
select throws_ok(
  format($$update public.video_jobs set status = 'COMPLETED', progress = 1 where id = %s$$, :job_a),
  '42501', 'permission denied for table video_jobs',
  'an owner cannot write their job''s status'
);
select throws_ok(
  format($$update public.video_jobs set priority = 100 where id = %s$$, :job_a),
  '42501', 'permission denied for table video_jobs',
  'an owner cannot bump their job''s priority'
);
select throws_ok(
  format($$update public.video_jobs set status = 'CANCELLED' where id = %s$$, :job_b),
  '42501', 'permission denied for table video_jobs',
  'a user cannot write another user''s job'
);
select throws_ok(
  format($$insert into public.video_jobs (video_id, owner_id)
           values ('bbbbbbbb-0000-4000-8000-000000000001', %L)$$, :'user_a'),
  '42501', 'permission denied for table video_jobs',
  'a user cannot insert jobs'
);
select throws_ok(
  format('delete from public.video_jobs where id = %s', :job_a),
  '42501', 'permission denied for table video_jobs',
  'an owner cannot delete their job directly'
);

-- ==========================================================================================
-- video_metadata
-- ==========================================================================================
select results_eq(
  $$ select job_id, title, tags from public.video_metadata $$,
  format($$values (%s::bigint, 'Alice''s talk'::text, array['talk'])$$, :job_a),
  'a user sees exactly their own metadata'
);
select is_empty(
  format('select id from public.video_metadata where job_id = %s', :job_b),
  'a user cannot read another user''s metadata'
);
select throws_ok(
  format($$update public.video_metadata set title = 'Better title' where job_id = %s$$, :job_a),
  '42501', 'permission denied for table video_metadata',
  'an owner cannot write their metadata'
);
select throws_ok(
  format($$update public.video_metadata set title = 'pwned' where job_id = %s$$, :job_b),
  '42501', 'permission denied for table video_metadata',
  'a user cannot write another user''s metadata'
);
select throws_ok(
  format($$insert into public.video_metadata (job_id, owner_id, title) values (%s, %L, 'fake')$$,
         :job_b, :'user_a'),
  '42501', 'permission denied for table video_metadata',
  'a user cannot insert metadata'
);
select throws_ok(
  format('delete from public.video_metadata where job_id = %s', :job_b),
  '42501', 'permission denied for table video_metadata',
  'a user cannot delete metadata'
);

-- ==========================================================================================
-- cascade: deleting a video deletes its job and metadata
-- ==========================================================================================
select results_eq(
  $$ delete from public.videos where id = 'aaaaaaaa-0000-4000-8000-000000000001' returning id $$,
  $$ values ('aaaaaaaa-0000-4000-8000-000000000001'::uuid) $$,
  'an owner can delete a video that has a job and metadata'
);
select is_empty(
  $$ select id from public.video_jobs union all select job_id from public.video_metadata $$,
  'the owner''s job and metadata went with the video'
);

-- ==========================================================================================
-- anon
-- ==========================================================================================
select tests.authenticate_as_anon();

select throws_ok(
  $$ select * from public.video_jobs $$,
  '42501', 'permission denied for table video_jobs',
  'anon cannot read jobs'
);
select throws_ok(
  $$ select * from public.video_metadata $$,
  '42501', 'permission denied for table video_metadata',
  'anon cannot read metadata'
);
select throws_ok(
  $$ update public.video_jobs set status = 'FAILED' $$,
  '42501', 'permission denied for table video_jobs',
  'anon cannot write jobs'
);

-- ==========================================================================================
-- the processor (reads everything it needs; writes only through its grants)
-- ==========================================================================================
select tests.authenticate_as_processor();

select results_eq(
  format('select owner_id from public.video_jobs where id = %s', :job_b),
  format('values (%L::uuid)', :'user_b'),
  'the processor reads every user''s jobs'
);
select throws_ok(
  format('delete from public.video_jobs where id = %s', :job_b),
  '42501', 'permission denied for table video_jobs',
  'the processor cannot delete jobs'
);
select throws_ok(
  $$ update public.videos set original_filename = 'x' $$,
  '42501', 'permission denied for table videos',
  'the processor cannot write videos'
);

-- ==========================================================================================
-- what the attacks left behind (as the superuser)
-- ==========================================================================================
select tests.clear_authentication();

select results_eq(
  format('select j.status, j.priority, m.title from public.video_jobs as j
          join public.video_metadata as m on m.job_id = j.id where j.id = %s', :job_b),
  $$ values ('PENDING'::public.processing_status, 0, 'Bob''s secret'::text) $$,
  'the other user''s job and metadata are untouched'
);

select * from finish();
rollback;
