-- Named queries of the AI response cache (table processor.ai_cache, created by
-- supabase/migrations/20261127100800_create_ai_cache.sql). Each block: `-- name:`, a one-line
-- `-- purpose:`, then one statement with psycopg named parameters. Expiry uses now(), the
-- database clock, never the worker's.

-- name: get_ai_cache_entry
-- purpose: Read a cached response that has not expired; no row on a miss.
select response
from processor.ai_cache
where cache_key = %(cache_key)s
  and expires_at > now();

-- name: put_ai_cache_entry
-- purpose: Store a response for ttl_seconds, replacing any earlier (possibly expired) one.
insert into processor.ai_cache (
  cache_key, kind, provider, model, prompt_version, response, created_at, expires_at
)
values (
  %(cache_key)s, %(kind)s, %(provider)s, %(model)s, %(prompt_version)s, %(response)s::jsonb,
  now(), now() + make_interval(secs => %(ttl_seconds)s)
)
on conflict (cache_key) do update
set kind = excluded.kind,
  provider = excluded.provider,
  model = excluded.model,
  prompt_version = excluded.prompt_version,
  response = excluded.response,
  created_at = excluded.created_at,
  expires_at = excluded.expires_at;

-- name: purge_expired_ai_cache
-- purpose: Delete expired responses; returns how many rows went.
with purged as (
  delete from processor.ai_cache
  where expires_at <= now()
  returning 1
)
select count(*) from purged;
