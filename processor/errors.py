"""The error taxonomy: every failure vproc reports carries a stable, snake_case `error_code`.

Frontends branch on `error_code`, so renaming one is a contract change. The class docstring is
the default message.
"""

from __future__ import annotations

from typing import ClassVar


class VprocError(Exception):
    """Internal error."""

    error_code: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = True

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or self.error_code).strip())

    @property
    def message(self) -> str:
        """One human-readable line."""
        return str(self.args[0]).splitlines()[0] if self.args else self.error_code


class ConfigurationError(VprocError):
    """vproc is not configured correctly."""

    error_code = "bad_config"
    retryable = False


class DatabaseError(VprocError):
    """The database refused an operation."""

    error_code = "database_error"
    retryable = False


class DatabaseUnavailableError(VprocError):
    """The database cannot be reached."""

    error_code = "database_unavailable"
    retryable = True


class MigrationError(DatabaseError):
    """A migration failed to apply."""

    error_code = "migration_failed"
