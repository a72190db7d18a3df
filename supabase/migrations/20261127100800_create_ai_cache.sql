-- Response cache for paid AI calls (metadata generation, transcription), so a retried or
-- re-run job does not pay for the same call twice. Internal to the processor: the table lives
-- in schema `processor`, which PostgREST does not expose, and only vproc_processor may use it.
--
-- cache_key is the sha256 (hex) of the provider, model, prompt version and input, computed by
-- the processor (processor/ai/cache.py). A row is served until expires_at, which the
-- processor sets from the database clock (now() + TTL); expired rows are never read and are
-- deleted by processor/ai/cache.sql `purge_expired_ai_cache`.

-- ==========================================================================================
-- tables
-- ==========================================================================================
create table processor.ai_cache (
  cache_key text primary key,
  kind text not null,
  provider text not null,
  model text not null,
  prompt_version text not null,
  response jsonb not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  constraint ai_cache_cache_key_check check (cache_key ~ '^[0-9a-f]{64}$'),
  constraint ai_cache_kind_check check (kind in ('metadata', 'transcript')),
  constraint ai_cache_expires_at_check check (expires_at > created_at)
);

comment on table processor.ai_cache is 'Cached AI responses keyed by sha256(provider, model, prompt version, input); rows expire at expires_at.';

-- ==========================================================================================
-- indexes
-- ==========================================================================================
create index ai_cache_expires_at_idx on processor.ai_cache (expires_at);

-- ==========================================================================================
-- enable row level security
-- ==========================================================================================
alter table processor.ai_cache enable row level security;

-- ==========================================================================================
-- revokes / grants
-- ==========================================================================================
revoke all on table processor.ai_cache from public, anon, authenticated;
grant select, insert, update, delete on table processor.ai_cache to vproc_processor;

-- ==========================================================================================
-- policies
-- ==========================================================================================
create policy "processor can use the ai cache"
  on processor.ai_cache
  for all
  to vproc_processor
  using (true)
  with check (true);
