-- Quotas (processor.quotas, PT429), the lease table and sequences: what users can neither
-- reach nor exhaust. Inserts and retries run as the user, exactly as PostgREST sends them.
begin;
\ir _helpers.psql
select plan(17);

-- ==========================================================================================
-- seed (as the superuser)
-- ==========================================================================================
select tests.create_user('alice@example.com') as user_a \gset
select tests.create_user('bob@example.com') as user_b \gset

insert into processor.quotas (user_id, max_active_jobs, max_videos_per_day, max_bytes_per_day, max_retries_per_job)
values (:'user_a', 2, 10, 1000, 1);

-- ==========================================================================================
-- who may touch quotas and leases
-- ==========================================================================================
select results_eq(
  $$ select max_active_jobs, max_videos_per_day, max_bytes_per_day, max_retries_per_job
     from processor.quotas where user_id is null $$,
  $$ values (20, 200, 53687091200::bigint, 5) $$,
  'the shipped defaults row'
);
select is_empty(
  $$
    select format('%s %s', t.relname, r.rolname)
    from pg_catalog.pg_class as t
    cross join (values ('anon'), ('authenticated')) as r (rolname)
    where t.oid in ('processor.quotas'::regclass, 'processor.quota_usage'::regclass, 'processor.job_leases'::regclass)
      and pg_catalog.has_table_privilege(r.rolname, t.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
  $$,
  'anon and authenticated hold no privilege on quotas, usage or leases'
);
select ok(
  (select bool_and(c.relrowsecurity) from pg_catalog.pg_class as c
   where c.oid in ('processor.quotas'::regclass, 'processor.quota_usage'::regclass, 'processor.job_leases'::regclass)),
  'quotas, usage and leases have row level security enabled'
);
select is_empty(
  $$ select p.polname from pg_catalog.pg_policy as p
     where p.polrelid in ('processor.quotas'::regclass, 'processor.quota_usage'::regclass) $$,
  'no policy opens quotas or usage to anyone'
);
select is_empty(
  $$
    select format('%s %s', c.oid::regclass, r.rolname)
    from pg_catalog.pg_class as c
    cross join (values ('anon'), ('authenticated')) as r (rolname)
    where c.relkind = 'S' and c.relnamespace = 'public'::regnamespace
      and pg_catalog.has_sequence_privilege(r.rolname, c.oid, 'SELECT, UPDATE, USAGE')
  $$,
  'anon and authenticated hold no privilege on any sequence in public'
);

-- ==========================================================================================
-- quotas at insert (PT429)
-- ==========================================================================================
select tests.authenticate_as(:'user_a');

select lives_ok(
  format($$insert into public.videos (storage_path, size_bytes) values (%L, 100), (%L, 100)$$,
         :'user_a' || '/one.mp4', :'user_a' || '/two.mp4'),
  'inserts within the limits pass'
);
select throws_ok(
  format($$insert into public.videos (storage_path) values (%L)$$, :'user_a' || '/three.mp4'),
  'PT429', 'quota exceeded: max_active_jobs is 2',
  'a third active job is refused with PT429 naming the limit'
);
select throws_ok(
  $$ select * from processor.quotas $$,
  '42501', 'permission denied for schema processor',
  'a user cannot read quotas'
);
select throws_ok(
  format($$update processor.quotas set max_active_jobs = null where user_id = %L$$, :'user_a'),
  '42501', 'permission denied for schema processor',
  'a user cannot lift their own quota'
);

select tests.clear_authentication();
update public.video_jobs set status = 'COMPLETED' where owner_id = :'user_a';
select tests.authenticate_as(:'user_a');

select throws_ok(
  format($$insert into public.videos (storage_path, size_bytes) values (%L, 900)$$, :'user_a' || '/big.mp4'),
  'PT429', 'quota exceeded: max_bytes_per_day is 1000',
  'bytes per day count what was inserted today'
);
select throws_ok(
  format($$insert into public.videos (storage_path, content_type) values (%L, repeat('x', 256))$$, :'user_a' || '/ct.mp4'),
  '23514', null,
  'content_type is bounded'
);
select throws_ok(
  format($$insert into public.videos (storage_path) values (%L)$$, :'user_a' || '/one.mp4'),
  '23505', null,
  'one upload, one live row: storage_path is unique'
);
select throws_ok(
  format($$insert into public.videos (storage_path) values (%L)$$, :'user_a' || '/./x.mp4'),
  '23514', null,
  'a single . segment is refused'
);

-- ==========================================================================================
-- retries are capped
-- ==========================================================================================
select tests.clear_authentication();
select id as job_one from public.video_jobs
where video_id = (select id from public.videos where storage_path = :'user_a' || '/one.mp4') \gset
update public.video_jobs set status = 'FAILED', finished_at = now() where id = :job_one;
select tests.authenticate_as(:'user_a');

select results_eq(
  format('select status, retries from public.retry_video_job(%s)', :job_one),
  $$ values ('PENDING'::public.processing_status, 1) $$,
  'a retry within the cap counts itself'
);

select tests.clear_authentication();
update public.video_jobs set status = 'FAILED', finished_at = now() where id = :job_one;
select tests.authenticate_as(:'user_a');

select throws_ok(
  format('select public.retry_video_job(%s)', :job_one),
  'PT429', 'quota exceeded: max_retries_per_job is 1',
  'a retry over the cap is refused with PT429'
);

-- ==========================================================================================
-- another user gets the defaults
-- ==========================================================================================
select tests.authenticate_as(:'user_b');
select lives_ok(
  format($$insert into public.videos (storage_path) select %L || '/' || g || '.mp4' from generate_series(1, 20) g$$, :'user_b'),
  'the defaults allow 20 active jobs'
);
select throws_ok(
  format($$insert into public.videos (storage_path) values (%L)$$, :'user_b' || '/21.mp4'),
  'PT429', 'quota exceeded: max_active_jobs is 20',
  'and refuse the 21st'
);

select * from finish();
rollback;
