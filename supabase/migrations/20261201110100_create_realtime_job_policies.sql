-- Who may join the private job channels. Realtime authorizes a private channel when a client
-- joins: as the client's role, with request.jwt.claims and realtime.topic set to the channel
-- topic, it inserts probe rows into realtime.messages and reads them back (read access), and
-- tries an insert (write access). Broadcast from the database (20261201110000) then reaches
-- every client that may read the topic. So:
--   * an authenticated user reads only `jobs:<their own id>`, broadcast only;
--   * nobody sends on a `jobs:` topic from a client (only the database's trigger does), and
--     nobody reads another user's `jobs:` topic, whatever other policies a project adds
--     (restrictive policies, ANDed with every permissive one);
--   * anon gets nothing here.
--
-- On hosted Supabase, realtime.messages belongs to supabase_realtime_admin and `postgres` may
-- create policies on it only through supautils' policy_grants; some `supabase db push` runs
-- are refused with "must be owner of relation messages" (supabase/cli#6116). This file then
-- warns instead of failing, and the same file, which is idempotent, is run once in the
-- dashboard's SQL editor (docs/frontend.md). Without the policies every join of a private
-- job channel is refused: the failure is closed. No COMMENT ON POLICY: policy_grants does not
-- cover it on realtime.messages.

-- ==========================================================================================
-- policies
-- ==========================================================================================
do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'realtime' and tablename = 'messages'
      and policyname = 'users receive their own job events'
  ) then
    create policy "users receive their own job events"
      on realtime.messages
      for select
      to authenticated
      using (
        extension = 'broadcast'
        and topic = (select realtime.topic())
        and (select realtime.topic()) = 'jobs:' || (select auth.uid())::text
      );
  end if;

  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'realtime' and tablename = 'messages'
      and policyname = 'job events reach only their owner'
  ) then
    create policy "job events reach only their owner"
      on realtime.messages
      as restrictive
      for select
      to anon, authenticated
      using (
        topic not like 'jobs:%'
        or (
          topic = (select realtime.topic())
          and (select realtime.topic()) = 'jobs:' || (select auth.uid())::text
        )
      );
  end if;

  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'realtime' and tablename = 'messages'
      and policyname = 'clients never send job events'
  ) then
    create policy "clients never send job events"
      on realtime.messages
      as restrictive
      for insert
      to anon, authenticated
      with check (topic not like 'jobs:%');
  end if;

  if not exists (
    select 1 from pg_catalog.pg_policies
    where schemaname = 'realtime' and tablename = 'messages'
      and policyname = 'clients never change job events'
  ) then
    create policy "clients never change job events"
      on realtime.messages
      as restrictive
      for update
      to anon, authenticated
      using (topic not like 'jobs:%')
      with check (topic not like 'jobs:%');
  end if;
exception
  when insufficient_privilege then
    raise warning 'could not create the policies on realtime.messages as %: %', current_user, sqlerrm
      using hint = 'Run supabase/migrations/20261201110100_create_realtime_job_policies.sql in the '
        'dashboard''s SQL editor; until then private job channels refuse every join.';
end
$$;
