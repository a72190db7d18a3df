"""Everything that talks to Postgres: connections, migrations, the local Supabase stand-in.

The only package that imports psycopg; psycopg errors become processor.errors types here.
Import the module you need (`processor.db.connection`, `processor.db.queries`, …).
"""
