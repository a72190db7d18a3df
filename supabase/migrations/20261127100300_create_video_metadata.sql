-- Results of a finished job: what the pipeline extracted and generated. Written by the
-- processor in processor.complete_job; users only read their own rows.

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table public.video_metadata (
  id bigint generated always as identity primary key,
  job_id bigint not null unique references public.video_jobs (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  title text,
  description text,
  tags text[] not null default '{}',
  transcript_text text,
  -- The *_url columns hold object keys in the artifacts bucket, never signed URLs:
  -- clients sign them on demand.
  transcript_file_url text,
  subtitle_files_urls jsonb not null default '{}'::jsonb,
  thumbnail_file_url text,
  extracted_video_duration_seconds double precision,
  extracted_video_resolution text,
  extracted_video_format text,
  show_notes_text text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint video_metadata_subtitle_files_urls_check check (jsonb_typeof(subtitle_files_urls) = 'object'),
  constraint video_metadata_resolution_check check (
    extracted_video_resolution is null or extracted_video_resolution ~ '^[0-9]+x[0-9]+$'
  )
);

comment on table public.video_metadata is 'Extracted and generated metadata of a job; *_url columns are artifact object keys.';

-- ==========================================================================================
-- indexes
-- ==========================================================================================
create index video_metadata_owner_id_idx on public.video_metadata (owner_id);

-- ==========================================================================================
-- triggers
-- ==========================================================================================
create trigger video_metadata_before_update_set_updated_at
  before update on public.video_metadata
  for each row
  execute function processor.tg_set_updated_at();

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table public.video_metadata enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on table public.video_metadata from public, anon, authenticated;
grant select on table public.video_metadata to authenticated;
grant select, insert, update on table public.video_metadata to vproc_processor;
grant all on table public.video_metadata to service_role;

-- ==========================================================================================
-- policies
-- ==========================================================================================
create policy "owners can read their metadata"
  on public.video_metadata
  for select
  to authenticated
  using (owner_id = (select auth.uid()));

create policy "processor can read all metadata"
  on public.video_metadata
  for select
  to vproc_processor
  using (true);

create policy "processor can add metadata"
  on public.video_metadata
  for insert
  to vproc_processor
  with check (true);

create policy "processor can update metadata"
  on public.video_metadata
  for update
  to vproc_processor
  using (true)
  with check (true);
