-- A small, faithful stand-in for the parts of a Supabase database that vproc's migrations
-- and tests rely on, for plain PostgreSQL (tests, the embedded demo database).
-- NEVER applied to a Supabase project: `vproc db migrate` installs it only when the target
-- has no `auth` schema. Signatures and behaviour follow Supabase's own definitions:
--   roles anon, authenticated, service_role (BYPASSRLS), authenticator, supabase_admin;
--   auth.users, auth.uid(), auth.role(), auth.jwt(), auth.email();
--   storage.buckets, storage.objects (RLS on), storage.foldername/filename/extension(),
--   storage.protect_delete() (direct deletes refused unless storage.allow_delete_query);
--   realtime.messages (RLS on), realtime.send(), realtime.topic(); publication
--   supabase_realtime; schema extensions;
--   Supabase's default privileges, which grant every new public table, function and
--   sequence to anon and authenticated (so the migrations' explicit revokes are exercised).
-- Schemas auth, storage and extensions belong to supabase_admin, as on Supabase, so that
-- `supabase db reset` keeps them. Idempotent: safe to run again.

-- ==========================================================================================
-- roles (cluster-wide)
-- ==========================================================================================
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin nologin superuser createrole createdb replication bypassrls;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator noinherit nologin;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit noreplication;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

-- ==========================================================================================
-- schemas
-- ==========================================================================================
create schema if not exists auth authorization supabase_admin;
create schema if not exists storage authorization supabase_admin;
create schema if not exists extensions authorization supabase_admin;
create schema if not exists realtime authorization supabase_admin;

grant usage on schema public to anon, authenticated, service_role;
grant usage on schema auth to anon, authenticated, service_role;
grant usage on schema storage to anon, authenticated, service_role;
grant usage on schema extensions to anon, authenticated, service_role;
grant usage on schema realtime to postgres, anon, authenticated, service_role;
grant all on schema auth, storage, extensions to postgres;

-- Objects below belong to supabase_admin, as on Supabase.
set role supabase_admin;

-- ==========================================================================================
-- auth
-- ==========================================================================================
create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_anonymous boolean not null default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create unique index if not exists users_email_partial_key
  on auth.users (email)
  where is_anonymous = false;

-- PostgREST sets request.jwt.claims (a JSON object) per request; older versions set one
-- request.jwt.claim.<name> per claim. Supabase's helpers read both.
create or replace function auth.uid()
returns uuid
language sql
stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role()
returns text
language sql
stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email()
returns text
language sql
stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt()
returns jsonb
language sql
stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to public, anon, authenticated, service_role;
grant all on table auth.users to postgres, service_role;

-- ==========================================================================================
-- storage
-- ==========================================================================================
create table if not exists storage.buckets (
  id text primary key,
  name text not null,
  owner uuid,
  owner_id text,
  public boolean default false,
  avif_autodetection boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create unique index if not exists bname on storage.buckets using btree (name);

create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text,
  owner uuid,
  owner_id text,
  metadata jsonb,
  user_metadata jsonb,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  version text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now()
);

create unique index if not exists bucketid_objname on storage.objects using btree (bucket_id, name);
create index if not exists name_prefix_search on storage.objects using btree (name text_pattern_ops);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;

create or replace function storage.foldername(name text)
returns text[]
language plpgsql
as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1:array_length(_parts, 1) - 1];
end
$$;

create or replace function storage.filename(name text)
returns text
language plpgsql
as $$
declare
  _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[array_length(_parts, 1)];
end
$$;

create or replace function storage.extension(name text)
returns text
language plpgsql
as $$
declare
  _parts text[];
  _filename text;
begin
  select string_to_array(name, '/') into _parts;
  select _parts[array_length(_parts, 1)] into _filename;
  return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

grant all on table storage.buckets, storage.objects to anon, authenticated, service_role, postgres;
grant execute on function storage.foldername(text), storage.filename(text), storage.extension(text)
  to public, anon, authenticated, service_role;

-- Storage refuses `delete from storage.buckets/objects` outside its API (tenant migration
-- 0055-prevent-direct-deletes): deleting a row would orphan the file. The Storage API sets
-- storage.allow_delete_query = 'true' for each request it runs (set_config(..., true)).
create or replace function storage.protect_delete()
returns trigger
language plpgsql
as $$
begin
  if coalesce(current_setting('storage.allow_delete_query', true), 'false') != 'true' then
    raise exception 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
      using hint = 'This prevents accidental data loss from orphaned objects.',
            errcode = '42501';
  end if;
  return null;
end;
$$;

drop trigger if exists protect_buckets_delete on storage.buckets;
create trigger protect_buckets_delete
  before delete on storage.buckets
  for each statement
  execute function storage.protect_delete();

drop trigger if exists protect_objects_delete on storage.objects;
create trigger protect_objects_delete
  before delete on storage.objects
  for each statement
  execute function storage.protect_delete();

reset role;

-- ==========================================================================================
-- realtime
-- ==========================================================================================
-- As Realtime's tenant migrations define them (lib/realtime/tenants/repo/migrations):
-- messages carries Broadcast authorization checks and Broadcast from the database; Realtime
-- partitions it by day (messages_YYYY_MM_DD) and drops partitions after a few days. Here one
-- default partition holds every row. Owned by supabase_realtime_admin; the client roles get
-- select, insert and update, so only the project's RLS policies decide.
do $$
begin
  if pg_catalog.to_regclass('realtime.messages') is null then
    create table realtime.messages (
      topic text not null,
      extension text not null,
      payload jsonb,
      event text,
      private boolean default false,
      updated_at timestamp without time zone not null default now(),
      inserted_at timestamp without time zone not null default now(),
      id uuid not null default gen_random_uuid(),
      binary_payload bytea,
      constraint messages_payload_exclusive check (payload is null or binary_payload is null),
      primary key (id, inserted_at)
    ) partition by range (inserted_at);
    create table realtime.messages_default partition of realtime.messages default;
    create index messages_inserted_at_topic_index
      on realtime.messages (inserted_at desc, topic)
      where extension = 'broadcast' and private is true;
    alter table realtime.messages owner to supabase_realtime_admin;
    alter table realtime.messages_default owner to supabase_realtime_admin;
  end if;
end
$$;

alter table realtime.messages enable row level security;
grant select, insert, update on table realtime.messages
  to postgres, anon, authenticated, service_role;

-- The channel topic Realtime is authorizing: it sets realtime.topic (with role and
-- request.jwt.claims) before it reads or writes realtime.messages as the user.
create or replace function realtime.topic()
returns text
language sql
stable
as $$
  select nullif(current_setting('realtime.topic', true), '')::text;
$$;

-- Broadcast from the database: Realtime streams the inserted row to the topic's subscribers.
-- It never raises: a failed insert becomes a WARNING, so a trigger calling it cannot break
-- the caller's write. Runs as the caller (no security definer).
create or replace function realtime.send(
  payload jsonb,
  event text,
  topic text,
  private boolean default true
)
returns void
language plpgsql
as $$
declare
  generated_id uuid;
  final_payload jsonb;
begin
  begin
    generated_id := gen_random_uuid();

    if payload ? 'id' then
      final_payload := payload;
    else
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    end if;

    execute format('SET LOCAL realtime.topic TO %L', topic);

    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (generated_id, final_payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

alter function realtime.topic() owner to supabase_realtime_admin;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
grant execute on function realtime.topic(), realtime.send(jsonb, text, text, boolean)
  to postgres, anon, authenticated, service_role;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;

-- ==========================================================================================
-- default privileges (as Supabase configures them for objects created by postgres and
-- supabase_admin)
-- ==========================================================================================
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
-- Supabase grants the same for objects created by supabase_admin (its own migrations).
alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;
