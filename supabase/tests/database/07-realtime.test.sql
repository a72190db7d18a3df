-- realtime.messages policies for the private job channels, checked the way Realtime checks
-- a join: probe rows exist for the topic, then, as the client's role with request.jwt.claims
-- and realtime.topic set, it reads them back (may receive) and tries an insert (may send).
-- A user receives only on `jobs:<their id>`; nobody sends on any topic; anon gets nothing.
begin;
\ir _helpers.psql
select plan(12);

-- ==========================================================================================
-- seed (as the superuser): Realtime's probe rows, one per extension and topic
-- ==========================================================================================
select tests.create_user('alice@example.com') as user_a \gset
select tests.create_user('bob@example.com') as user_b \gset

insert into realtime.messages (topic, extension, private)
values
  ('jobs:' || :'user_a', 'broadcast', true),
  ('jobs:' || :'user_a', 'presence', true),
  ('jobs:' || :'user_b', 'broadcast', true),
  ('room:lobby', 'broadcast', true);

-- ==========================================================================================
-- a user on their own job channel
-- ==========================================================================================
select tests.authenticate_as(:'user_a');
select set_config('realtime.topic', 'jobs:' || :'user_a', true);

select results_eq(
  $$ select topic, extension from realtime.messages $$,
  format($$ values (%L::text, 'broadcast'::text) $$, 'jobs:' || :'user_a'),
  'a user may receive broadcast, and nothing else, on their own job channel'
);
select throws_ok(
  format($$ insert into realtime.messages (topic, extension) values (%L, 'broadcast') $$,
         'jobs:' || :'user_a'),
  '42501', 'new row violates row-level security policy for table "messages"',
  'a user cannot send on their own job channel'
);
select is_empty(
  $$ update realtime.messages set payload = '{"status": "COMPLETED"}' returning id $$,
  'a user cannot rewrite the events of their own job channel'
);

-- ==========================================================================================
-- a user on another user's job channel, or on any other topic
-- ==========================================================================================
select set_config('realtime.topic', 'jobs:' || :'user_b', true);
select is_empty(
  $$ select topic from realtime.messages $$,
  'a user cannot receive on another user''s job channel'
);
select throws_ok(
  format($$ insert into realtime.messages (topic, extension) values (%L, 'broadcast') $$,
         'jobs:' || :'user_b'),
  '42501', 'new row violates row-level security policy for table "messages"',
  'a user cannot send on another user''s job channel'
);

select set_config('realtime.topic', 'room:lobby', true);
select is_empty(
  $$ select topic from realtime.messages $$,
  'a user receives nothing on a topic no policy opens'
);
select throws_ok(
  $$ insert into realtime.messages (topic, extension) values ('room:lobby', 'broadcast') $$,
  '42501', 'new row violates row-level security policy for table "messages"',
  'a user cannot send on any topic'
);

select set_config('realtime.topic', '', true);
select is_empty(
  $$ select topic from realtime.messages $$,
  'without a channel topic a user reads no message'
);

-- ==========================================================================================
-- anon
-- ==========================================================================================
select tests.authenticate_as_anon();

select set_config('realtime.topic', 'jobs:' || :'user_a', true);
select is_empty(
  $$ select topic from realtime.messages $$,
  'anon cannot receive on a job channel'
);
select throws_ok(
  format($$ insert into realtime.messages (topic, extension) values (%L, 'broadcast') $$,
         'jobs:' || :'user_a'),
  '42501', 'new row violates row-level security policy for table "messages"',
  'anon cannot send on a job channel'
);
select set_config('realtime.topic', 'room:lobby', true);
select is_empty(
  $$ select topic from realtime.messages $$,
  'anon receives nothing on any other topic'
);

-- ==========================================================================================
-- what the attempts left behind (as the superuser)
-- ==========================================================================================
select tests.clear_authentication();

select results_eq(
  $$ select count(*), count(payload) from realtime.messages $$,
  $$ values (4::bigint, 0::bigint) $$,
  'no message was added or changed'
);

select * from finish();
rollback;
