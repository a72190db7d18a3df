"""Shared fixtures: a migrated template database, cloned per test or per module."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from processor.db.pool import Database
from tests.support.databases import Server, cloned_database, template_database, test_server


@pytest.fixture(scope="session")
def pg_server() -> Server:
    return test_server()


@pytest.fixture(scope="session")
def template_db(pg_server: Server) -> Iterator[str]:
    with template_database(pg_server) as name:
        yield name


@pytest.fixture
def db_url(pg_server: Server, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    with cloned_database(pg_server, template_db) as url:
        yield url


@pytest.fixture(scope="module")
def module_db_url(pg_server: Server, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database shared by one test module."""
    with cloned_database(pg_server, template_db) as url:
        yield url


@pytest.fixture
def admin(db_url: str) -> Iterator[psycopg.Connection]:
    """Superuser connection to the test's database: seeds data and plays the clock."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """The worker's pool on the test's database."""
    with Database(db_url, application_name="vproc-worker:test", max_size=6) as database:
        yield database
