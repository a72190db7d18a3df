-- Supersedes 20261127100600_add_realtime_publication.sql: public.video_jobs and
-- public.video_metadata leave the supabase_realtime publication, so postgres_changes no
-- longer carries them.
--
-- Why. Job events now go out as throttled Broadcast messages on private channels
-- (20261201110000). postgres_changes would still decode every progress write of every job
-- (about one a second while it runs), check RLS once per subscriber and change, and skip
-- changes, the final COMPLETED among them, once the project passes its Realtime events per
-- second. video_metadata is written a few times per job but its rows are large (transcript
-- text, which Realtime leaves out of UPDATE payloads when unchanged and TOASTed), and the
-- only moment a client needs it is when its job's terminal event arrives: clients read it
-- then, through PostgREST. Keeping either table in the publication would cost WAL decoding
-- on every write for events nobody should use. The (possibly empty) publication itself
-- stays: Supabase owns it.

-- ==========================================================================================
-- publication
-- ==========================================================================================
do $$
begin
  if exists (
    select 1 from pg_catalog.pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'video_jobs'
  ) then
    alter publication supabase_realtime drop table public.video_jobs;
  end if;

  if exists (
    select 1 from pg_catalog.pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'video_metadata'
  ) then
    alter publication supabase_realtime drop table public.video_metadata;
  end if;
end
$$;
