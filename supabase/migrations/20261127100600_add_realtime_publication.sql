-- Realtime: every status and progress change of a job, and its metadata when it lands,
-- reach the owner's browser through `postgres_changes`. Realtime applies the tables' RLS
-- policies, so a subscriber only receives their own rows; clients filter on owner_id.

-- ==========================================================================================
-- publication
-- ==========================================================================================
do $$
begin
  if not exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime') then
    -- Supabase creates this publication; a plain Postgres without Realtime gets an empty one
    -- so that adding Realtime later needs no change here.
    create publication supabase_realtime;
  end if;

  if not exists (
    select 1 from pg_catalog.pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'video_jobs'
  ) then
    alter publication supabase_realtime add table public.video_jobs;
  end if;

  if not exists (
    select 1 from pg_catalog.pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'video_metadata'
  ) then
    alter publication supabase_realtime add table public.video_metadata;
  end if;
end
$$;
