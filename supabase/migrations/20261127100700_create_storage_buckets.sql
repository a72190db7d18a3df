-- Storage: the `videos` bucket users upload to and the `video-artifacts` bucket the
-- processor writes results to. Both private. Object keys start with the owner's user id:
--   videos:          <uid>/<anything>            (written by the user's browser)
--   video-artifacts: <uid>/<job_id>/{transcript.txt,subtitles.vtt,subtitles.srt,thumbnail.jpg}
-- The processor writes artifacts with the service role key, which bypasses these policies.

-- ==========================================================================================
-- buckets
-- ==========================================================================================
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values
  -- 5 GiB; a project's global upload limit still applies on top of this.
  ('videos', 'videos', false, 5368709120, array['video/*']),
  ('video-artifacts', 'video-artifacts', false, null, null)
on conflict (id) do nothing;

-- ==========================================================================================
-- policies
-- ==========================================================================================
create policy "users can upload videos into their own folder"
  on storage.objects
  for insert
  to authenticated
  with check (
    bucket_id = 'videos'
    and (storage.foldername(name))[1] = (select auth.uid())::text
    -- Same rule as videos.storage_path: no '.' or '..' segments.
    and name !~ '(^|/)\.{1,2}(/|$)'
  );

create policy "users can read videos in their own folder"
  on storage.objects
  for select
  to authenticated
  using (
    bucket_id = 'videos'
    and (storage.foldername(name))[1] = (select auth.uid())::text
  );

-- Upserts (`upload(..., { upsert: true })`) need update as well as insert.
create policy "users can replace videos in their own folder"
  on storage.objects
  for update
  to authenticated
  using (
    bucket_id = 'videos'
    and (storage.foldername(name))[1] = (select auth.uid())::text
  )
  with check (
    bucket_id = 'videos'
    and (storage.foldername(name))[1] = (select auth.uid())::text
    -- Same rule as videos.storage_path: no '.' or '..' segments.
    and name !~ '(^|/)\.{1,2}(/|$)'
  );

create policy "users can delete videos in their own folder"
  on storage.objects
  for delete
  to authenticated
  using (
    bucket_id = 'videos'
    and (storage.foldername(name))[1] = (select auth.uid())::text
  );

create policy "users can read artifacts in their own folder"
  on storage.objects
  for select
  to authenticated
  using (
    bucket_id = 'video-artifacts'
    and (storage.foldername(name))[1] = (select auth.uid())::text
  );
