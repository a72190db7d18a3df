-- Read-only catalog queries behind `vproc doctor`, as named blocks (see processor/db/diagnostics.py).
-- Nothing here writes: the doctor may point at a production database.

-- name: server_identity
-- purpose: the server's version and the user and database this connection runs as
select
  pg_catalog.current_setting('server_version') as server_version,
  current_user::text as user_name,
  pg_catalog.current_database()::text as database_name;

-- name: target_signals
-- purpose: which Supabase schemas and tables exist, to tell Supabase from the local stand-in
select
  pg_catalog.to_regnamespace('auth') is not null as has_auth_schema,
  pg_catalog.to_regclass('auth.users') is not null as has_auth_users,
  pg_catalog.to_regclass('storage.objects') is not null as has_storage_objects,
  pg_catalog.to_regclass('auth.schema_migrations') is not null as has_auth_migrations,
  pg_catalog.to_regclass('storage.migrations') is not null as has_storage_migrations;

-- name: processor_role_status
-- purpose: whether the connected user can act with vproc_processor's rights
select
  r.rolname::text as user_name,
  r.rolsuper as is_superuser,
  r.rolbypassrls as has_bypassrls,
  p.oid is not null as role_exists,
  coalesce(pg_catalog.pg_has_role(r.oid, p.oid, 'MEMBER'), false) as is_member,
  coalesce(pg_catalog.pg_has_role(r.oid, p.oid, 'USAGE'), false) as has_role_privileges
from pg_catalog.pg_roles as r
left join pg_catalog.pg_roles as p
  on p.rolname = 'vproc_processor'
where r.rolname = current_user;

-- name: notify_probe
-- purpose: send one notification on the doctor's temporary channel (LISTEN round trip)
select pg_catalog.pg_notify(%(channel)s, %(payload)s);
