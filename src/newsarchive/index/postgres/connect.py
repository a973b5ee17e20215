"""Connecting to PostgreSQL, and its failures as the archive's errors.

psycopg's errors about the server, the network, the account or the disk (connection refused, a wrong password, a
database that does not exist, a full disk, the server shutting down) become ``DatabaseServerError``, a
``StorageError`` whose one line names the database by its address without the password, and says what to do.
Constraint and programming errors (a bad statement, a duplicate key) stay as they are: those are bugs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ...config import database_address
from ...errors import StorageError

_SERVER = "check that PostgreSQL runs and is reachable at that address (pg_isready -d ADDRESS), then run again"
_ACCOUNT = "check the user and password in cluster.database or NEWSARCHIVE_DATABASE (or ~/.pgpass)"
_DATABASE = "create the database (createdb NAME) or correct its name in cluster.database or NEWSARCHIVE_DATABASE"
_SPACE = "free space on the database server's disk, then run again; a run cut short is completed by the next one"

# (SQLSTATE or its class, reason, hint); the first that matches
_BY_STATE: tuple[tuple[str, str, str], ...] = (
    ("28", "cannot log in", _ACCOUNT),
    ("3D000", "no such database", _DATABASE),
    ("53100", "the database server's disk is full", _SPACE),
    ("53300", "the database server has no connection to spare", "raise max_connections, or stop other clients, then run again"),
    ("53", "the database server ran out of resources", "check the database server (its memory and disk), then run again"),
    ("25006", "the index is open read-only", "this command only reads: a write here is a bug; report it"),
    ("08", "lost the connection to the database", _SERVER),
    ("57", "the database server stopped or refused the work", _SERVER),
    ("58", "the database server's disk failed", "check the database server's disk and its log, then run again"),
    ("XX", "the database reports damage", "check the database server's log; restore the database or run `newsarchive reindex`"),
)
# Failures before any SQLSTATE, told by libpq's message.
_BY_MESSAGE: tuple[tuple[str, str, str], ...] = (
    ("password authentication failed", "cannot log in", _ACCOUNT),
    ("no password supplied", "cannot log in: no password given", _ACCOUNT),
    ("authentication failed", "cannot log in", _ACCOUNT),
    ("does not exist", "no such database or user", _DATABASE),
    ("", "cannot connect to the database", _SERVER),
)


class DatabaseServerError(StorageError):
    """The PostgreSQL index failed: the server unreachable, the login refused, the database missing, its disk full.
    ``sqlstate`` is PostgreSQL's error code, when the server gave one."""

    sqlstate: str | None = None


def translate(url: str, error: psycopg.Error) -> Exception:
    """``error`` as a ``DatabaseServerError`` naming the database (without password) when it is about the server, the
    account or the disk; others as they are."""
    state = error.sqlstate
    found: tuple[str, str, str] | None = None
    if state:
        found = next((entry for entry in _BY_STATE if state.startswith(entry[0])), None)
    elif isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        message = str(error)
        found = next(entry for entry in _BY_MESSAGE if entry[0] in message)
    if found is None:
        return error
    detail = error.diag.message_primary if state and error.diag.message_primary else str(error)
    detail = re.sub(r"\s+", " ", detail.strip().splitlines()[0] if detail.strip() else type(error).__name__)
    translated = DatabaseServerError(f"{database_address(url)}: {found[1]}: {detail}", hint=found[2])
    translated.sqlstate = state
    return translated


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Run the block with its psycopg errors translated (``translate``); others pass as they are."""
    try:
        yield
    except psycopg.Error as exc:
        error = translate(url, exc)
        if error is exc:
            raise
        raise error from exc


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection in autocommit mode (``atomic()`` makes the transactions), or a ``DatabaseServerError``."""
    try:
        with translated(url):
            return psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="newsarchive")
    except psycopg.ProgrammingError:  # libpq could not read the address; its message may quote it whole
        raise DatabaseServerError(
            f"{database_address(url)}: not a usable PostgreSQL address",
            hint="give postgresql://user:password@host:5432/dbname in cluster.database or NEWSARCHIVE_DATABASE",
        ) from None
