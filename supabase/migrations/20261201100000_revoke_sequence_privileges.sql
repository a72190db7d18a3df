-- Sequences and later objects: nothing in public is handed to anon or authenticated by default.
--
-- Supersedes the grants the earlier migrations left in place by relying on Supabase's default
-- privileges: those grant ALL on every new public sequence to anon and authenticated, and the
-- table migrations revoked tables only. With UPDATE on public.video_jobs_id_seq any signed-in
-- user could `setval` it to its maximum and make every later insert fail. Sequences are used
-- only through their identity columns, which need no privilege on the sequence.
--
-- Default privileges are changed for the roles that create objects in migrations: postgres
-- (the migration role on Supabase) and, where the migrating role may act for it,
-- supabase_admin (as Supabase's own images configure both). New sequences and functions in
-- public get nothing for anon/authenticated, so each migration grants exactly what it means
-- to. (PostgreSQL's own global default, EXECUTE for PUBLIC on new functions, cannot be taken
-- back per schema: functions keep revoking it themselves, as STYLE asks.)

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on all sequences in schema public from public, anon, authenticated;
revoke all on all sequences in schema processor from public, anon, authenticated;

do $$
declare
  v_role text;
begin
  foreach v_role in array array['postgres', 'supabase_admin'] loop
    if exists (select 1 from pg_catalog.pg_roles where rolname = v_role)
      and pg_catalog.pg_has_role(current_user, v_role, 'usage') then
      execute format(
        'alter default privileges for role %I in schema public revoke all on sequences from anon, authenticated',
        v_role
      );
      execute format(
        'alter default privileges for role %I in schema public revoke all on functions from anon, authenticated',
        v_role
      );
      execute format(
        'alter default privileges for role %I in schema processor revoke all on sequences from anon, authenticated',
        v_role
      );
      execute format(
        'alter default privileges for role %I in schema processor revoke all on functions from anon, authenticated',
        v_role
      );
    end if;
  end loop;
end
$$;
