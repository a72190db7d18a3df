-- Schema-wide guarantees, read from the catalog so a new table or function is covered the day
-- it is added: RLS everywhere in public, no anon access, explicit grants, queue functions out
-- of the clients' reach, Realtime publication, private buckets.
begin;
\ir _helpers.psql
select plan(27);

-- ==========================================================================================
-- objects of the contract
-- ==========================================================================================
select has_table('public', 'videos', 'table public.videos exists');
select has_table('public', 'video_jobs', 'table public.video_jobs exists');
select has_table('public', 'video_metadata', 'table public.video_metadata exists');
select enum_has_labels(
  'public', 'processing_status',
  array['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'],
  'processing_status has the contract''s labels, in lifecycle order'
);

-- ==========================================================================================
-- row level security
-- ==========================================================================================
select tests.rls_enabled('public');
select tests.rls_enabled('storage', 'objects');

-- A policy that names PUBLIC or anon would open a table to callers without a session.
select is_empty(
  $$
    select c.relname, p.polname
    from pg_catalog.pg_policy as p
    join pg_catalog.pg_class as c on c.oid = p.polrelid
    where c.relnamespace = 'public'::regnamespace
      and (0::oid = any (p.polroles) or 'anon'::regrole = any (p.polroles))
  $$,
  'no policy on a public table applies to PUBLIC or anon'
);

-- ==========================================================================================
-- grants
-- ==========================================================================================
-- Supabase's default privileges hand every new public table to anon; each migration must
-- take them back. Column-level grants count as access too. Extension members (pgTAP's
-- views, when it lives in public) are not ours.
select is_empty(
  $$
    select c.relname
    from pg_catalog.pg_class as c
    where c.relnamespace = 'public'::regnamespace
      and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and not exists (
        select 1 from pg_catalog.pg_depend as d
        where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
      )
      and (
        pg_catalog.has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        or pg_catalog.has_any_column_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
      )
  $$,
  'anon has no privilege on any table in public'
);

select table_privs_are(
  'public', 'videos', 'authenticated', array['SELECT', 'DELETE'],
  'authenticated may read and delete videos (insert and update are column grants)'
);
select column_privs_are(
  'public', 'videos', 'storage_path', 'authenticated', array['SELECT', 'INSERT'],
  'authenticated may set storage_path on insert but never update it'
);
select column_privs_are(
  'public', 'videos', 'original_filename', 'authenticated', array['SELECT', 'INSERT', 'UPDATE'],
  'original_filename is the one column authenticated may update'
);
select column_privs_are(
  'public', 'videos', 'created_at', 'authenticated', array['SELECT'],
  'authenticated may not choose created_at'
);
select table_privs_are(
  'public', 'video_jobs', 'authenticated', array['SELECT'],
  'authenticated may only read video_jobs'
);
select table_privs_are(
  'public', 'video_metadata', 'authenticated', array['SELECT'],
  'authenticated may only read video_metadata'
);
select table_privs_are(
  'public', 'video_jobs', 'vproc_processor', array['SELECT', 'UPDATE'],
  'vproc_processor may read and update video_jobs, never insert or delete them'
);

-- ==========================================================================================
-- functions
-- ==========================================================================================
select is_empty(
  $$
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'processor'::regnamespace
      and p.prorettype <> 'pg_catalog.trigger'::regtype
      and (
        pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE')
        or pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE')
      )
  $$,
  'no queue function in schema processor is executable by anon or authenticated'
);

select is_empty(
  $$
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'processor'::regnamespace
      and (
        pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE')
        or pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE')
      )
  $$,
  'no function at all in schema processor is executable by anon or authenticated'
);
select ok(
  not pg_catalog.has_schema_privilege('anon', 'processor', 'USAGE')
  and not pg_catalog.has_schema_privilege('authenticated', 'processor', 'USAGE'),
  'anon and authenticated have no usage on schema processor'
);
select is_empty(
  $$
    select f.name
    from unnest(array[
      'processor.claim_jobs(text, integer, integer, integer)',
      'processor.heartbeat(bigint, uuid, integer)',
      'processor.record_progress(bigint, uuid, text, real, jsonb)',
      'processor.save_metadata(bigint, uuid, jsonb)',
      'processor.complete_job(bigint, uuid, jsonb)',
      'processor.complete_jobs(jsonb)',
      'processor.fail_job(bigint, uuid, text, text, boolean, integer)',
      'processor.release_job(bigint, uuid)',
      'processor.cancel_job(bigint, uuid)',
      'processor.reap_expired_leases()'
    ]) as f (name)
    where not pg_catalog.has_function_privilege('vproc_processor', f.name, 'EXECUTE')
  $$,
  'vproc_processor may execute the queue functions'
);

-- Every vproc function pins its search path, so no caller can shadow the names it uses.
-- Extension members (pgTAP itself may live in public) are not ours.
select is_empty(
  $$
    select p.oid::regprocedure
    from pg_catalog.pg_proc as p
    where p.pronamespace in ('public'::regnamespace, 'processor'::regnamespace)
      and not exists (
        select 1 from pg_catalog.pg_depend as d
        where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
      )
      and not coalesce('search_path=""' = any (p.proconfig), false)
  $$,
  'every function in public and processor runs with search_path = '''''
);
select ok(
  (select bool_and(p.prosecdef) from pg_catalog.pg_proc as p
   where p.oid in ('public.retry_video_job(bigint)'::regprocedure, 'public.cancel_video_job(bigint)'::regprocedure))
  and not pg_catalog.has_function_privilege('anon', 'public.retry_video_job(bigint)', 'EXECUTE')
  and not pg_catalog.has_function_privilege('anon', 'public.cancel_video_job(bigint)', 'EXECUTE'),
  'client RPCs are security definer and not executable by anon'
);

-- ==========================================================================================
-- realtime
-- ==========================================================================================
-- Job events go out as private Broadcast messages; postgres_changes carries no vproc table.
select is_empty(
  $$ select tablename::text from pg_catalog.pg_publication_tables
     where pubname = 'supabase_realtime' and schemaname = 'public' $$,
  'no public table is in publication supabase_realtime'
);
select ok(
  (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'realtime.messages'::regclass),
  'realtime.messages has RLS enabled'
);
select results_eq(
  $$ select policyname::text collate "default", permissive, cmd from pg_catalog.pg_policies
     where schemaname = 'realtime' and tablename = 'messages' order by policyname $$,
  $$ values ('clients never change job events', 'RESTRICTIVE', 'UPDATE'),
            ('clients never send job events', 'RESTRICTIVE', 'INSERT'),
            ('job events reach only their owner', 'RESTRICTIVE', 'SELECT'),
            ('users receive their own job events', 'PERMISSIVE', 'SELECT') $$,
  'realtime.messages carries the job channel policies'
);
select ok(
  (select p.prosecdef and 'search_path=""' = any (p.proconfig)
   from pg_catalog.pg_proc as p where p.oid = 'processor.tg_video_jobs_broadcast()'::regprocedure),
  'the broadcast trigger function is security definer with an empty search_path'
);

-- ==========================================================================================
-- storage buckets
-- ==========================================================================================
select results_eq(
  $$ select id, public from storage.buckets where id in ('videos', 'video-artifacts') order by id $$,
  $$ values ('video-artifacts'::text, false), ('videos'::text, false) $$,
  'buckets videos and video-artifacts exist and are private'
);
select results_eq(
  $$ select allowed_mime_types, file_size_limit > 0 from storage.buckets where id = 'videos' $$,
  $$ values (array['video/*', 'audio/*'], true) $$,
  'bucket videos accepts video/* and audio/* (podcasts) up to a size limit'
);

select * from finish();
rollback;
