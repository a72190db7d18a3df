-- Videos uploaded by users. A supabase-js client inserts the row directly (PostgREST) after
-- uploading the file to the `videos` bucket under `<uid>/…`.

-- ==========================================================================================
-- types
-- ==========================================================================================
create type public.processing_status as enum (
  'PENDING',
  'PROCESSING',
  'COMPLETED',
  'FAILED',
  'CANCELLED'
);

comment on type public.processing_status is 'Lifecycle of a video_jobs row; see processor.claim_jobs for the state machine.';

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table public.videos (
  id uuid primary key default gen_random_uuid(),
  uploader_user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  original_filename text,
  storage_path text not null,
  content_type text,
  size_bytes bigint,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Object keys are relative, '/'-separated, without empty, '.' or '..' segments, so every
  -- storage backend (including the local filesystem one) maps them to one place only.
  constraint videos_storage_path_check check (
    length(storage_path) between 3 and 1024
    and storage_path !~ '(^|/)\.{1,2}(/|$)'
    and storage_path !~ '(^/|//|/$|\\)'
    and storage_path !~ '[[:cntrl:]]'
  ),
  constraint videos_original_filename_check check (
    original_filename is null or length(original_filename) <= 1024
  ),
  constraint videos_size_bytes_check check (size_bytes is null or size_bytes >= 0)
);

comment on table public.videos is 'One uploaded video. Inserting a row enqueues a video_jobs row.';
comment on column public.videos.storage_path is 'Object key in bucket `videos`; the first segment is the uploader''s id.';

-- ==========================================================================================
-- indexes
-- ==========================================================================================
create index videos_uploader_user_id_idx on public.videos (uploader_user_id);

-- ==========================================================================================
-- triggers
-- ==========================================================================================
create function processor.tg_set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

comment on function processor.tg_set_updated_at() is 'Trigger: stamps updated_at on every update.';

create trigger videos_before_update_set_updated_at
  before update on public.videos
  for each row
  execute function processor.tg_set_updated_at();

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table public.videos enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
-- Supabase's default privileges hand every new public table to anon and authenticated;
-- take them all back and grant exactly what the policies below are written for.
revoke all on table public.videos from public, anon, authenticated;
grant select, delete on table public.videos to authenticated;
grant insert (id, uploader_user_id, original_filename, storage_path, content_type, size_bytes)
  on table public.videos to authenticated;
grant update (original_filename) on table public.videos to authenticated;
grant select on table public.videos to vproc_processor;
grant all on table public.videos to service_role;
revoke all on function processor.tg_set_updated_at() from public, anon, authenticated;

-- ==========================================================================================
-- policies
-- ==========================================================================================
create policy "owners can read their videos"
  on public.videos
  for select
  to authenticated
  using (uploader_user_id = (select auth.uid()));

create policy "users can add videos stored in their own folder"
  on public.videos
  for insert
  to authenticated
  with check (
    uploader_user_id = (select auth.uid())
    and split_part(storage_path, '/', 1) = (select auth.uid())::text
  );

create policy "owners can rename their videos"
  on public.videos
  for update
  to authenticated
  using (uploader_user_id = (select auth.uid()))
  with check (uploader_user_id = (select auth.uid()));

create policy "owners can delete their videos"
  on public.videos
  for delete
  to authenticated
  using (uploader_user_id = (select auth.uid()));

create policy "processor can read all videos"
  on public.videos
  for select
  to vproc_processor
  using (true);
