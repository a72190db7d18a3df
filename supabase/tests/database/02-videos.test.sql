-- public.videos through PostgREST's eyes: owners insert (only into their own folder), read,
-- rename and delete their videos; nobody touches another user's; anon gets nothing.
begin;
\ir _helpers.psql
select plan(24);

-- ==========================================================================================
-- seed (as the superuser)
-- ==========================================================================================
select tests.create_user('alice@example.com') as user_a \gset
select tests.create_user('bob@example.com') as user_b \gset

insert into public.videos (id, uploader_user_id, original_filename, storage_path)
values ('bbbbbbbb-0000-4000-8000-000000000001', :'user_b', 'bob.mp4', :'user_b' || '/bob.mp4');

-- ==========================================================================================
-- insert
-- ==========================================================================================
select tests.authenticate_as(:'user_a');

select lives_ok(
  format(
    $$insert into public.videos (id, original_filename, storage_path, content_type, size_bytes)
      values ('aaaaaaaa-0000-4000-8000-000000000001', 'holiday.mp4', %L, 'video/mp4', 1024)$$,
    :'user_a' || '/holiday.mp4'
  ),
  'a user can add a video stored in their own folder'
);
select results_eq(
  $$ select uploader_user_id from public.videos where id = 'aaaaaaaa-0000-4000-8000-000000000001' $$,
  format('values (%L::uuid)', :'user_a'),
  'uploader_user_id defaults to the caller (auth.uid())'
);
select lives_ok(
  format(
    $$insert into public.videos (uploader_user_id, storage_path) values (%L, %L)$$,
    :'user_a', :'user_a' || '/clips/2024/talk.webm'
  ),
  'a user can add a video in a subfolder of their own folder, naming themselves uploader'
);

select throws_ok(
  format(
    $$insert into public.videos (uploader_user_id, storage_path) values (%L, %L)$$,
    :'user_b', :'user_b' || '/planted.mp4'
  ),
  '42501', 'new row violates row-level security policy for table "videos"',
  'a user cannot add a video in another user''s name'
);
select throws_ok(
  format($$insert into public.videos (storage_path) values (%L)$$, :'user_b' || '/planted.mp4'),
  '42501', 'new row violates row-level security policy for table "videos"',
  'a user cannot add a video stored in another user''s folder'
);
select throws_ok(
  $$insert into public.videos (storage_path) values ('x.mp4')$$,
  '42501', 'new row violates row-level security policy for table "videos"',
  'a user cannot add a video stored outside any user folder'
);
select throws_ok(
  format($$insert into public.videos (storage_path) values (%L)$$, :'user_a' || '/../' || :'user_b' || '/x.mp4'),
  '23514', 'new row for relation "videos" violates check constraint "videos_storage_path_check"',
  'a storage_path climbing out of the own folder with .. is rejected'
);
select throws_ok(
  format($$insert into public.videos (storage_path, created_at) values (%L, now() - interval '1 year')$$,
         :'user_a' || '/backdated.mp4'),
  '42501', 'permission denied for table videos',
  'a user cannot choose columns outside the insert grant (created_at)'
);

-- ==========================================================================================
-- select
-- ==========================================================================================
select results_eq(
  $$ select count(*) from public.videos $$,
  $$ values (2::bigint) $$,
  'a user sees exactly their own videos'
);
select is_empty(
  $$ select id from public.videos where id = 'bbbbbbbb-0000-4000-8000-000000000001' $$,
  'a user cannot read another user''s video'
);

-- ==========================================================================================
-- update
-- ==========================================================================================
select results_eq(
  $$ update public.videos set original_filename = 'renamed.mp4'
     where id = 'aaaaaaaa-0000-4000-8000-000000000001' returning original_filename $$,
  $$ values ('renamed.mp4'::text) $$,
  'an owner can rename their video'
);
select is_empty(
  $$ update public.videos set original_filename = 'pwned.mp4'
     where id = 'bbbbbbbb-0000-4000-8000-000000000001' returning id $$,
  'renaming another user''s video affects no row'
);
select throws_ok(
  format($$update public.videos set storage_path = %L where id = 'aaaaaaaa-0000-4000-8000-000000000001'$$,
         :'user_b' || '/bob.mp4'),
  '42501', 'permission denied for table videos',
  'an owner cannot change storage_path'
);
select throws_ok(
  format($$update public.videos set uploader_user_id = %L where id = 'aaaaaaaa-0000-4000-8000-000000000001'$$,
         :'user_b'),
  '42501', 'permission denied for table videos',
  'an owner cannot hand a video to another user'
);

-- ==========================================================================================
-- delete
-- ==========================================================================================
select is_empty(
  $$ delete from public.videos where id = 'bbbbbbbb-0000-4000-8000-000000000001' returning id $$,
  'deleting another user''s video affects no row'
);
select results_eq(
  $$ delete from public.videos where id = 'aaaaaaaa-0000-4000-8000-000000000001' returning id $$,
  $$ values ('aaaaaaaa-0000-4000-8000-000000000001'::uuid) $$,
  'an owner can delete their video'
);

-- ==========================================================================================
-- anon
-- ==========================================================================================
select tests.authenticate_as_anon();

select throws_ok(
  $$ select * from public.videos $$,
  '42501', 'permission denied for table videos',
  'anon cannot read videos'
);
select throws_ok(
  format($$insert into public.videos (uploader_user_id, storage_path) values (%L, %L)$$,
         :'user_b', :'user_b' || '/anon.mp4'),
  '42501', 'permission denied for table videos',
  'anon cannot add videos'
);
select throws_ok(
  $$ delete from public.videos $$,
  '42501', 'permission denied for table videos',
  'anon cannot delete videos'
);

-- ==========================================================================================
-- what the attacks left behind (as the superuser)
-- ==========================================================================================
select tests.clear_authentication();

select results_eq(
  $$ select uploader_user_id, original_filename, storage_path from public.videos
     where id = 'bbbbbbbb-0000-4000-8000-000000000001' $$,
  format('values (%L::uuid, %L::text, %L::text)', :'user_b', 'bob.mp4', :'user_b' || '/bob.mp4'),
  'the other user''s video is untouched'
);
select results_eq(
  format('select count(*) from public.videos where uploader_user_id = %L', :'user_b'),
  $$ values (1::bigint) $$,
  'nothing was planted in the other user''s name'
);
select is_empty(
  $$ select id from public.videos where id = 'aaaaaaaa-0000-4000-8000-000000000001' $$,
  'the owner''s delete really removed the row'
);
select is_empty(
  $$ select j.id from public.video_jobs as j
     where j.video_id = 'aaaaaaaa-0000-4000-8000-000000000001' $$,
  'deleting a video deletes its job'
);
select results_eq(
  format($$select storage_path from public.videos where uploader_user_id = %L$$, :'user_a'),
  format('values (%L::text)', :'user_a' || '/clips/2024/talk.webm'),
  'the owner keeps only the videos they added and did not delete'
);

select * from finish();
rollback;
