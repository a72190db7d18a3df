-- Quotas, enforced where users write: inserting into public.videos and retrying a job.
--
-- Supersedes processor.tg_videos_enqueue() from 20261127100200_create_video_jobs.sql and
-- public.retry_video_job(bigint) from 20261127100500_client_rpcs.sql (whole bodies below).
-- Adds video_jobs.retries, and to public.videos a unique storage_path (one upload, one live
-- row) and a bounded content_type.
--
-- Limits live in processor.quotas: one defaults row (user_id null) and optional per-user rows.
-- A user's row replaces the defaults row as a whole; a null limit is unlimited.
--   max_active_jobs      jobs PENDING or PROCESSING at once
--   max_videos_per_day   videos inserted per UTC day
--   max_bytes_per_day    bytes inserted per UTC day (the larger of the declared size_bytes and
--                        the size Storage recorded for the object)
--   max_retries_per_job  retry_video_job calls per job
-- Daily usage is counted in processor.quota_usage when a video is inserted and is not given
-- back when the video is deleted, so deleting and re-inserting cannot dodge the limit.
--
-- Quotas apply to signed-in users (role authenticated, as PostgREST sets it). service_role and
-- the database owner (operators, trusted backends, the benchmark) are counted but not limited.
--
-- Errors, as in the client RPCs (PostgREST answers with the status in the SQLSTATE):
--   PT429 - a quota is exhausted; the message names the limit and its value
--   PT404, PT409 - as before for retry_video_job

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table processor.quotas (
  id bigint generated always as identity primary key,
  user_id uuid unique references auth.users (id) on delete cascade,
  max_active_jobs integer,
  max_videos_per_day integer,
  max_bytes_per_day bigint,
  max_retries_per_job integer,
  updated_at timestamptz not null default now(),
  constraint quotas_limits_check check (
    (max_active_jobs is null or max_active_jobs >= 0)
    and (max_videos_per_day is null or max_videos_per_day >= 0)
    and (max_bytes_per_day is null or max_bytes_per_day >= 0)
    and (max_retries_per_job is null or max_retries_per_job >= 0)
  )
);

comment on table processor.quotas is
  'Per-user limits checked at insert and retry; the row with user_id null holds the defaults. Null limit: unlimited.';

-- One defaults row at most.
create unique index quotas_defaults_idx on processor.quotas ((user_id is null)) where user_id is null;

-- The shipped defaults: generous for a person uploading by hand, a wall for a script.
insert into processor.quotas (user_id, max_active_jobs, max_videos_per_day, max_bytes_per_day, max_retries_per_job)
values (null, 20, 200, 53687091200, 5);  -- 20 jobs, 200 videos/day, 50 GiB/day, 5 retries

create table processor.quota_usage (
  user_id uuid not null references auth.users (id) on delete cascade,
  day date not null,
  videos integer not null default 0,
  bytes bigint not null default 0,
  primary key (user_id, day)
);

comment on table processor.quota_usage is
  'Videos and bytes inserted per user and UTC day; never decreased by deletes.';

alter table public.video_jobs
  add column retries integer not null default 0,
  add constraint video_jobs_retries_check check (retries >= 0);

comment on column public.video_jobs.retries is 'How many times the owner retried the job (capped by max_retries_per_job).';

alter table public.videos
  add constraint videos_storage_path_key unique (storage_path),
  add constraint videos_content_type_check check (
    content_type is null or length(content_type) between 1 and 255
  );

-- ==========================================================================================
-- functions
-- ==========================================================================================

-- quota_for: the limits that apply to p_user_id (their own row, else the defaults row).
create function processor.quota_for(p_user_id uuid)
returns processor.quotas
language sql
stable
set search_path = ''
as $$
  select q.*
  from processor.quotas as q
  where q.user_id = p_user_id or q.user_id is null
  order by q.user_id nulls last
  limit 1;
$$;

comment on function processor.quota_for(uuid) is 'The quota row that applies to a user: theirs, else the defaults.';

-- quota_exceeded: raise PT429 naming the limit.
create function processor.quota_exceeded(p_limit text, p_value bigint, p_detail text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception using
    errcode = 'PT429',
    message = format('quota exceeded: %s is %s', p_limit, p_value),
    detail = p_detail,
    hint = 'Wait for running jobs to finish or for the next UTC day, or ask an operator to raise the limit.';
end;
$$;

comment on function processor.quota_exceeded(text, bigint, text) is 'Raise PT429 for an exhausted quota.';

-- quota_lock: serialize quota checks per user until the transaction ends, so two concurrent
-- inserts at the limit cannot both pass.
create function processor.quota_lock(p_user_id uuid)
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('vproc.quota:' || p_user_id::text, 0)
  );
$$;

comment on function processor.quota_lock(uuid) is 'Per-user transaction lock around quota checks.';

-- quota_enforced: whether the current caller is limited (signed-in users) or only counted.
create function processor.quota_enforced()
returns boolean
language sql
stable
set search_path = ''
as $$
  select pg_catalog.current_setting('role', true) in ('authenticated', 'anon');
$$;

comment on function processor.quota_enforced() is 'True when the caller acts as a user (role authenticated or anon).';

-- active_jobs: PENDING + PROCESSING jobs of a user, each counted off its partial index.
create function processor.active_jobs(p_user_id uuid)
returns bigint
language sql
stable
set search_path = ''
as $$
  select
    (select count(*) from public.video_jobs as j where j.owner_id = p_user_id and j.status = 'PENDING')
    + (select count(*) from public.video_jobs as j where j.owner_id = p_user_id and j.status = 'PROCESSING');
$$;

comment on function processor.active_jobs(uuid) is 'Number of PENDING or PROCESSING jobs of a user.';

-- Contract: inserting a video creates its PENDING job in the same transaction, after the
-- uploader's quotas allow it (PT429 otherwise). Security definer because the inserting user
-- may not write video_jobs nor read quotas; the job's owner is always the video's uploader.
create or replace function processor.tg_videos_enqueue()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_quota processor.quotas;
  v_bytes bigint;
  v_usage processor.quota_usage;
begin
  -- The object's real size, when Storage has recorded it, counts if larger than declared.
  select greatest(coalesce(new.size_bytes, 0), coalesce((o.metadata ->> 'size')::bigint, 0))
  into v_bytes
  from (select 1) as one
  left join storage.objects as o
    on o.bucket_id = 'videos' and o.name = new.storage_path;

  perform processor.quota_lock(new.uploader_user_id);
  v_quota := processor.quota_for(new.uploader_user_id);

  if processor.quota_enforced() and v_quota.max_active_jobs is not null
    and processor.active_jobs(new.uploader_user_id) >= v_quota.max_active_jobs then
    perform processor.quota_exceeded(
      'max_active_jobs', v_quota.max_active_jobs,
      'Jobs PENDING or PROCESSING at once.'
    );
  end if;

  insert into processor.quota_usage as u (user_id, day, videos, bytes)
  values (new.uploader_user_id, (now() at time zone 'utc')::date, 1, v_bytes)
  on conflict (user_id, day) do update
  set videos = u.videos + 1,
      bytes = u.bytes + excluded.bytes
  returning u.* into v_usage;

  if processor.quota_enforced() then
    if v_quota.max_videos_per_day is not null and v_usage.videos > v_quota.max_videos_per_day then
      perform processor.quota_exceeded(
        'max_videos_per_day', v_quota.max_videos_per_day,
        'Videos inserted per UTC day.'
      );
    end if;
    if v_quota.max_bytes_per_day is not null and v_usage.bytes > v_quota.max_bytes_per_day then
      perform processor.quota_exceeded(
        'max_bytes_per_day', v_quota.max_bytes_per_day,
        'Bytes inserted per UTC day.'
      );
    end if;
  end if;

  insert into public.video_jobs (video_id, owner_id)
  values (new.id, new.uploader_user_id);
  return null;
end;
$$;

comment on function processor.tg_videos_enqueue() is
  'Trigger: checks the uploader''s quotas (PT429) and creates the PENDING video_jobs row of a new video.';

-- retry_video_job: FAILED or CANCELLED -> PENDING, with a fresh set of attempts, at most
-- max_retries_per_job times per job and within max_active_jobs (PT429 beyond). Stage
-- checkpoints in processing_stages are kept, so the worker resumes after the last completed
-- stage. The next claim gets a new claim token: retries never reuse a fence. Returns the
-- updated job.
create or replace function public.retry_video_job(job_id bigint)
returns public.video_jobs
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_job public.video_jobs;
  v_quota processor.quotas;
begin
  select *
  into v_job
  from public.video_jobs as j
  where j.id = retry_video_job.job_id
    and j.owner_id = (select auth.uid())
  for update;

  if not found then
    raise exception using
      errcode = 'PT404',
      message = format('job %s not found', retry_video_job.job_id);
  end if;

  if v_job.status not in ('FAILED', 'CANCELLED') then
    raise exception using
      errcode = 'PT409',
      message = format('job %s is %s; only FAILED or CANCELLED jobs can be retried', v_job.id, v_job.status),
      hint = 'Wait for the job to finish, or cancel it first.';
  end if;

  perform processor.quota_lock(v_job.owner_id);
  v_quota := processor.quota_for(v_job.owner_id);

  if v_quota.max_retries_per_job is not null and v_job.retries >= v_quota.max_retries_per_job then
    perform processor.quota_exceeded(
      'max_retries_per_job', v_quota.max_retries_per_job,
      format('Job %s was retried %s times.', v_job.id, v_job.retries)
    );
  end if;

  if processor.quota_enforced() and v_quota.max_active_jobs is not null
    and processor.active_jobs(v_job.owner_id) >= v_quota.max_active_jobs then
    perform processor.quota_exceeded(
      'max_active_jobs', v_quota.max_active_jobs,
      'Jobs PENDING or PROCESSING at once.'
    );
  end if;

  update public.video_jobs as j
  set status = 'PENDING',
      attempts = 0,
      retries = j.retries + 1,
      run_after = now(),
      cancel_requested = false,
      current_stage = null,
      progress = 0,
      error_code = null,
      error_message = null,
      started_at = null,
      finished_at = null
  where j.id = v_job.id
  returning * into v_job;

  return v_job;
end;
$$;

comment on function public.retry_video_job(bigint) is
  'Owner only: put a FAILED or CANCELLED job back in the queue. PT404 unknown job, PT409 wrong state, PT429 quota.';

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table processor.quotas enable row level security;
alter table processor.quota_usage enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
-- No policies: only the table owner (the security definer functions above, operators
-- connected as the owner) and service_role read or change quotas.
revoke all on table processor.quotas, processor.quota_usage from public, anon, authenticated;
grant all on table processor.quotas, processor.quota_usage to service_role;

revoke all on function
  processor.quota_for(uuid),
  processor.quota_exceeded(text, bigint, text),
  processor.quota_lock(uuid),
  processor.quota_enforced(),
  processor.active_jobs(uuid)
from public, anon, authenticated;
