-- The spoken language of a job's media, as the processor detected it.
--
-- Adds public.video_metadata.language (ISO 639-1 code; null when no speech or no model could
-- tell) and language_probability (the detector's confidence, 0..1).
-- Supersedes processor.write_metadata from 20261201100100_move_job_leases.sql (the upsert
-- behind save_metadata and complete_job; their fence is unchanged): the same body, writing
-- the two new columns from the metadata jsonb like the others.

-- ==========================================================================================
-- tables
-- ==========================================================================================
alter table public.video_metadata
  add column language text,
  add column language_probability real,
  add constraint video_metadata_language_check check (language is null or language ~ '^[a-z]{2,3}$'),
  add constraint video_metadata_language_probability_check check (
    language_probability is null or language_probability between 0 and 1
  );

comment on column public.video_metadata.language is 'Spoken language (ISO 639-1), detected on the first speech; null when undetermined.';
comment on column public.video_metadata.language_probability is 'Confidence of the language detection, 0..1.';

-- ==========================================================================================
-- functions
-- ==========================================================================================
-- write_metadata: the upsert behind save_metadata and complete_job, for a job whose claim
-- the caller already holds. Keys are video_metadata column names; keys absent are left as
-- they are; owner_id and job_id always come from the job.
create or replace function processor.write_metadata(
  p_job_id bigint,
  p_metadata jsonb
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  v_new public.video_metadata;
begin
  v_new := jsonb_populate_record(null::public.video_metadata, coalesce(p_metadata, '{}'::jsonb));

  insert into public.video_metadata as m (
    job_id, owner_id, title, description, tags, transcript_text, transcript_file_url,
    subtitle_files_urls, thumbnail_file_url, extracted_video_duration_seconds,
    extracted_video_resolution, extracted_video_format, show_notes_text,
    language, language_probability
  )
  select
    j.id, j.owner_id, v_new.title, v_new.description, coalesce(v_new.tags, '{}'),
    v_new.transcript_text, v_new.transcript_file_url,
    coalesce(v_new.subtitle_files_urls, '{}'::jsonb), v_new.thumbnail_file_url,
    v_new.extracted_video_duration_seconds, v_new.extracted_video_resolution,
    v_new.extracted_video_format, v_new.show_notes_text,
    v_new.language, v_new.language_probability
  from public.video_jobs as j
  where j.id = p_job_id
  on conflict (job_id) do update
  set title = case when p_metadata ? 'title' then excluded.title else m.title end,
      description = case when p_metadata ? 'description' then excluded.description else m.description end,
      tags = case when p_metadata ? 'tags' then excluded.tags else m.tags end,
      transcript_text = case when p_metadata ? 'transcript_text' then excluded.transcript_text else m.transcript_text end,
      transcript_file_url = case when p_metadata ? 'transcript_file_url' then excluded.transcript_file_url else m.transcript_file_url end,
      subtitle_files_urls = case when p_metadata ? 'subtitle_files_urls' then excluded.subtitle_files_urls else m.subtitle_files_urls end,
      thumbnail_file_url = case when p_metadata ? 'thumbnail_file_url' then excluded.thumbnail_file_url else m.thumbnail_file_url end,
      extracted_video_duration_seconds = case when p_metadata ? 'extracted_video_duration_seconds' then excluded.extracted_video_duration_seconds else m.extracted_video_duration_seconds end,
      extracted_video_resolution = case when p_metadata ? 'extracted_video_resolution' then excluded.extracted_video_resolution else m.extracted_video_resolution end,
      extracted_video_format = case when p_metadata ? 'extracted_video_format' then excluded.extracted_video_format else m.extracted_video_format end,
      show_notes_text = case when p_metadata ? 'show_notes_text' then excluded.show_notes_text else m.show_notes_text end,
      language = case when p_metadata ? 'language' then excluded.language else m.language end,
      language_probability = case when p_metadata ? 'language_probability' then excluded.language_probability else m.language_probability end;
end;
$$;

comment on function processor.write_metadata(bigint, jsonb) is
  'Upsert video_metadata fields of a job whose claim the caller holds (no fence of its own).';
