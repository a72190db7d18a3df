-- Audio-only uploads (podcasts, recorded talks): the `videos` bucket accepts audio/* as well
-- as video/*. Supersedes the allowed_mime_types set in 20261127100700_create_storage_buckets.sql;
-- the size limit and the storage.objects policies are unchanged (they never look at the type).

-- ==========================================================================================
-- buckets
-- ==========================================================================================
update storage.buckets
set allowed_mime_types = array['video/*', 'audio/*']
where id = 'videos';
