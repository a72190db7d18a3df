-- The processor's identity: a least-privilege role and a private schema for the queue API.
--
-- `vproc_processor` is created NOLOGIN. Operators either grant it LOGIN with a password
-- (`alter role vproc_processor with login password '…'`) or grant it to the login role the
-- daemon uses (`grant vproc_processor to my_worker_login`). It never bypasses RLS: every table
-- it touches has an explicit policy for it.
--
-- Schema `processor` holds the queue functions, trigger functions and internal tables. It is
-- not in PostgREST's exposed schemas and `anon`/`authenticated` have no usage on it.

-- ==========================================================================================
-- roles
-- ==========================================================================================
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'vproc_processor') then
    create role vproc_processor nologin noinherit;
  end if;
end
$$;

comment on role vproc_processor is 'vproc daemon: claims and completes video_jobs through processor.*';

-- ==========================================================================================
-- schemas
-- ==========================================================================================
create schema if not exists processor;

comment on schema processor is 'vproc internals: queue API, trigger functions, caches. Not exposed to PostgREST.';

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on schema processor from public;
grant usage on schema processor to vproc_processor;
grant usage on schema public to vproc_processor;
