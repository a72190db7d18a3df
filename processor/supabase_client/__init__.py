"""A Supabase client's road to a project: sign in, upload, insert and watch as a frontend does.

supabase-py sends every Auth, Storage and PostgREST request with the user's access token and the
`realtime` client joins the user's private Broadcast channel `jobs:<uid>` with it, so RLS, the
Storage policies and Realtime Authorization judge each request exactly as they judge a
browser's. `session` signs in, `errors` translates the services' errors, `uploads` submits a
video (through `tus` above 6 MiB) and `realtime` watches jobs. Presenting results is the CLI's.
"""
