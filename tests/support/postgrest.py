"""Run SQL the way PostgREST runs a request, so RLS is exercised exactly as in production.

PostgREST opens a transaction per request, switches to the JWT's role with `set local role`
and exposes the verified claims as `request.jwt.claims`; auth.uid() reads `sub` from there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


def claims_for(user_id: uuid.UUID | None, role: str = "authenticated") -> dict[str, object]:
    """The JWT claims Supabase Auth issues for a user (or for the anon key)."""
    if user_id is None:
        return {"role": "anon", "iss": "supabase"}
    return {
        "sub": str(user_id),
        "role": role,
        "aud": "authenticated",
        "email": f"{user_id}@example.test",
        "iss": "supabase",
    }


def impersonate(
    conn: psycopg.Connection,
    user_id: uuid.UUID | None,
    *,
    method: str = "POST",
    path: str = "/rest/v1/",
) -> None:
    """Inside the current transaction, become the PostgREST role for `user_id` (None: anon)."""
    claims = claims_for(user_id)
    conn.execute(
        "select set_config('role', %(role)s, true),"
        " set_config('request.jwt.claims', %(claims)s, true),"
        " set_config('request.method', %(method)s, true),"
        " set_config('request.path', %(path)s, true)",
        {"role": claims["role"], "claims": json.dumps(claims), "method": method, "path": path},
    )


@contextmanager
def request_as(conn: psycopg.Connection, user_id: uuid.UUID | None) -> Iterator[psycopg.Connection]:
    """One PostgREST-style request: a transaction as `user_id`, rolled back afterwards."""
    with conn.transaction(force_rollback=True):
        impersonate(conn, user_id)
        yield conn
