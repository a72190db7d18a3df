"""The composition root's parts: settings turned into a database URL and adapters, once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from processor.config import Settings
from processor.db.connection import resolve_database_url
from processor.db.pool import Database

if TYPE_CHECKING:
    from processor.storage import Storage


@dataclass
class Services:
    """What commands need, built lazily from Settings and passed down explicitly."""

    settings: Settings
    database_url_override: str | None = None
    _databases: list[Database] = field(default_factory=list)

    @cached_property
    def database_url(self) -> str:
        return resolve_database_url(self.settings, self.database_url_override)

    def database(self, *, application_name: str = "vproc", max_size: int = 4) -> Database:
        """An open pool; closed by close()."""
        db = Database(self.database_url, application_name=application_name, max_size=max_size)
        db.open()
        self._databases.append(db)
        return db

    @cached_property
    def storage(self) -> Storage:
        from processor.storage.factory import make_storage

        return make_storage(self.settings)

    def close(self) -> None:
        for db in self._databases:
            db.close()
        self._databases.clear()
