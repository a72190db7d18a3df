-- storage.objects policies: a user reads, uploads, replaces and deletes only under
-- `<their id>/` of bucket `videos`, and only reads under `<their id>/` of `video-artifacts`
-- (the processor writes artifacts with the service role). anon gets nothing. Deletes go
-- through the Storage API, which sets storage.allow_delete_query for each request; a direct
-- `delete from storage.objects` is refused.
begin;
\ir _helpers.psql
select plan(24);

-- ==========================================================================================
-- seed (as the superuser)
-- ==========================================================================================
select tests.create_user('alice@example.com') as user_a \gset
select tests.create_user('bob@example.com') as user_b \gset

insert into storage.objects (bucket_id, name, owner_id)
values
  ('videos', :'user_a' || '/mine.mp4', :'user_a'),
  ('videos', :'user_b' || '/bob.mp4', :'user_b'),
  ('video-artifacts', :'user_a' || '/1/transcript.txt', null),
  ('video-artifacts', :'user_b' || '/2/transcript.txt', null);

select tests.authenticate_as(:'user_a');

-- ==========================================================================================
-- bucket videos: insert
-- ==========================================================================================
select lives_ok(
  format($$insert into storage.objects (bucket_id, name) values ('videos', %L)$$, :'user_a' || '/new.mp4'),
  'a user can upload into their own folder of videos'
);
select throws_ok(
  format($$insert into storage.objects (bucket_id, name) values ('videos', %L)$$, :'user_b' || '/planted.mp4'),
  '42501', 'new row violates row-level security policy for table "objects"',
  'a user cannot upload into another user''s folder'
);
select throws_ok(
  $$insert into storage.objects (bucket_id, name) values ('videos', 'x.mp4')$$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'a user cannot upload outside any user folder'
);
select throws_ok(
  format($$insert into storage.objects (bucket_id, name) values ('videos', %L)$$,
         :'user_b' || '/../' || :'user_a' || '/x.mp4'),
  '42501', 'new row violates row-level security policy for table "objects"',
  'a key that starts in another user''s folder is refused whatever follows'
);
select throws_ok(
  format($$insert into storage.objects (bucket_id, name) values ('videos', %L)$$, '/' || :'user_a' || '/x.mp4'),
  '42501', 'new row violates row-level security policy for table "objects"',
  'a key with a leading slash is not in the user''s folder'
);

select throws_ok(
  format($$insert into storage.objects (bucket_id, name) values ('videos', %L)$$,
         :'user_a' || '/../' || :'user_b' || '/x.mp4'),
  '42501', 'new row violates row-level security policy for table "objects"',
  'a key with a ".." segment is refused even inside the user''s own folder'
);

-- ==========================================================================================
-- bucket videos: select
-- ==========================================================================================
select results_eq(
  $$ select count(*) from storage.objects where bucket_id = 'videos' $$,
  $$ values (2::bigint) $$,
  'a user sees exactly the videos in their own folder'
);
select is_empty(
  format($$select name from storage.objects where bucket_id = 'videos' and name like %L$$, :'user_b' || '/%'),
  'a user cannot read another user''s videos'
);

-- ==========================================================================================
-- bucket videos: update (upsert) and delete
-- ==========================================================================================
select results_eq(
  format($$update storage.objects set metadata = '{"size": 1}' where bucket_id = 'videos' and name = %L
           returning name$$, :'user_a' || '/mine.mp4'),
  format('values (%L::text)', :'user_a' || '/mine.mp4'),
  'a user can replace a video in their own folder'
);
select is_empty(
  format($$update storage.objects set metadata = '{"size": 1}' where bucket_id = 'videos' and name = %L
           returning name$$, :'user_b' || '/bob.mp4'),
  'replacing another user''s video affects no row'
);
select throws_ok(
  format($$update storage.objects set name = %L where bucket_id = 'videos' and name = %L$$,
         :'user_b' || '/moved.mp4', :'user_a' || '/mine.mp4'),
  '42501', 'new row violates row-level security policy for table "objects"',
  'a user cannot move their video into another user''s folder'
);
select throws_ok(
  format($$delete from storage.objects where bucket_id = 'videos' and name = %L$$,
         :'user_a' || '/new.mp4'),
  '42501', 'Direct deletion from storage tables is not allowed. Use the Storage API instead.',
  'a direct delete from storage.objects is refused, even of the user''s own object'
);
-- From here on, as the Storage API runs a user's delete request.
select set_config('storage.allow_delete_query', 'true', true);
select is_empty(
  format($$delete from storage.objects where bucket_id = 'videos' and name = %L returning name$$,
         :'user_b' || '/bob.mp4'),
  'deleting another user''s video affects no row'
);
select results_eq(
  format($$delete from storage.objects where bucket_id = 'videos' and name = %L returning name$$,
         :'user_a' || '/new.mp4'),
  format('values (%L::text)', :'user_a' || '/new.mp4'),
  'a user can delete a video in their own folder'
);

-- ==========================================================================================
-- bucket video-artifacts: read only
-- ==========================================================================================
select results_eq(
  $$ select name from storage.objects where bucket_id = 'video-artifacts' $$,
  format('values (%L::text)', :'user_a' || '/1/transcript.txt'),
  'a user reads exactly the artifacts in their own folder'
);
select throws_ok(
  format($$insert into storage.objects (bucket_id, name) values ('video-artifacts', %L)$$,
         :'user_a' || '/1/thumbnail.jpg'),
  '42501', 'new row violates row-level security policy for table "objects"',
  'a user cannot write artifacts, even in their own folder'
);
select is_empty(
  format($$update storage.objects set metadata = '{}' where bucket_id = 'video-artifacts' and name = %L
           returning name$$, :'user_a' || '/1/transcript.txt'),
  'a user cannot replace their artifacts'
);
select is_empty(
  $$ delete from storage.objects where bucket_id = 'video-artifacts' returning name $$,
  'a user cannot delete artifacts'
);

-- ==========================================================================================
-- the other user
-- ==========================================================================================
select tests.authenticate_as(:'user_b');

select results_eq(
  $$ select name from storage.objects where bucket_id = 'videos' $$,
  format('values (%L::text)', :'user_b' || '/bob.mp4'),
  'the other user sees only their own video, not the dot-dot key planted by the first'
);

-- ==========================================================================================
-- anon
-- ==========================================================================================
select tests.authenticate_as_anon();

select is_empty(
  $$ select name from storage.objects $$,
  'anon reads no object'
);
select throws_ok(
  format($$insert into storage.objects (bucket_id, name) values ('videos', %L)$$, :'user_a' || '/anon.mp4'),
  '42501', 'new row violates row-level security policy for table "objects"',
  'anon cannot upload'
);
select is_empty(
  $$ delete from storage.objects returning name $$,
  'anon deletes no object, even through the Storage API'
);

-- ==========================================================================================
-- what the attacks left behind (as the superuser)
-- ==========================================================================================
select tests.clear_authentication();

select results_eq(
  format($$select name, metadata from storage.objects where name like %L order by name$$, :'user_b' || '/%'),
  format($$values (%L::text, null::jsonb), (%L::text, null::jsonb)$$,
         :'user_b' || '/2/transcript.txt', :'user_b' || '/bob.mp4'),
  'the other user''s objects are all there, unmodified, and nothing was planted'
);
select results_eq(
  $$ select count(*) from storage.objects where bucket_id = 'video-artifacts' $$,
  $$ values (2::bigint) $$,
  'no artifact was added or removed'
);

select * from finish();
rollback;
