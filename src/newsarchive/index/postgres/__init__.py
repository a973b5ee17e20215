"""The index in PostgreSQL (``[cluster] database``): the same queries as the SQLite ``Index``, on psycopg 3.

Importing this package without psycopg is a ``ConfigError`` saying how to install it: only an archive configured
with a PostgreSQL address imports it, so the embedded default never needs psycopg.
"""

from __future__ import annotations

from ...errors import ConfigError

try:
    import psycopg  # noqa: F401
except ImportError as exc:  # pragma: no cover - the tests install psycopg
    raise ConfigError(
        "the index is configured in PostgreSQL (cluster.database or NEWSARCHIVE_DATABASE), but psycopg is not installed",
        hint="pip install 'newsarchive[postgresql]' (psycopg 3), or remove the PostgreSQL address to use SQLite",
    ) from exc

from .connect import DatabaseServerError
from .index import PostgresIndex
from .migrations import MIGRATIONS

__all__ = ["MIGRATIONS", "DatabaseServerError", "PostgresIndex"]
