"""Everything that talks to Postgres: connections, migrations, the local Supabase stand-in.

The only package that imports psycopg; psycopg errors become processor.errors types here.
"""

from processor.db.connection import connect, resolve_database_url

__all__ = ["connect", "resolve_database_url"]
