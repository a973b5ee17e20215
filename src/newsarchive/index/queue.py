"""The work queue of a cluster, in PostgreSQL: jobs that workers on any machine claim with a lease.

A job is a row of ``jobs`` (a table of the index's migrations, ``index/postgres/migrations.py``, step 2). A worker
claims the oldest waiting one whose host has fewer leased jobs than the job's ``per_host`` (politeness holds across
the cluster, whichever workers run), in one transaction that holds an advisory lock, so that two workers counting a
host's jobs at once cannot both take its last place; ``FOR UPDATE SKIP LOCKED`` keeps claims from waiting on one
another. A claim is a lease: a random token and a time by which the worker must
renew it (its heartbeat) or lose the job to another worker. A result counts only when handed back with the lease's
token, so a worker that lost its lease (killed, stalled, cut off) cannot hand back a second result; a job whose lease
ran out ``max_attempts`` times fails. The writer (the archive's machine, the one writer of files) takes each finished
job exactly once (``taken``).

One writer per database: it holds a session advisory lock for as long as it runs; a second one is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from ..config import database_address
from ..errors import ArchiveLockedError

_CLAIM = """
WITH busy AS (SELECT host, count(*) AS n FROM jobs WHERE state = 'leased' AND lease_until > now() GROUP BY host)
UPDATE jobs SET state = 'leased', token = gen_random_uuid(), worker = %(worker)s, attempts = attempts + 1,
    lease_until = now() + make_interval(secs => %(lease)s)
WHERE id = (
    SELECT j.id FROM jobs AS j LEFT JOIN busy AS b ON b.host = j.host
    WHERE (j.state = 'queued' OR (j.state = 'leased' AND j.lease_until <= now() AND j.attempts < %(attempts)s))
      AND coalesce(b.n, 0) < j.per_host
    ORDER BY j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED
)
RETURNING id, kind, payload, token::text, attempts
"""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    token: str
    attempts: int


@dataclass(frozen=True)
class Finished:
    id: int
    ok: bool
    result: dict[str, Any] | None
    error: str | None


class JobQueue:
    """One connection to the queue in ``url``'s database (its tables in ``schema``, beside the index's)."""

    def __init__(self, db: Any, url: str, schema: str) -> None:
        self.db = db
        self.url = url
        self.schema = schema
        self._lock_key = f"newsarchive:{schema}"
        self._turn = asyncio.Lock()  # one statement or transaction at a time: tasks share the connection

    @classmethod
    async def connect(cls, url: str, *, schema: str = "newsarchive") -> JobQueue:
        """Connect, with the database's schema brought up to date (the queue's tables are a step of the index's
        migrations); its failures are the index's (``index/postgres/connect.py``), one line naming the database
        without its password."""
        import psycopg

        from .postgres.connect import translated  # a ConfigError saying how to install psycopg, when it is missing

        await asyncio.to_thread(_up_to_date, url, schema)
        with translated(url):
            db = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10, application_name="newsarchive")
            await db.execute(f"SET search_path TO {schema}")
        return cls(db, url, schema)

    async def close(self) -> None:
        await self.db.close()

    async def _call(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        from .postgres.connect import translated

        with translated(self.url):
            async with self._turn:
                cursor = await self.db.execute(query, params)
                return await cursor.fetchall() if cursor.description else []

    # the writer ----------------------------------------------------------------------------

    async def hold_writer_lock(self) -> None:
        """Be the one writer of this database for as long as this connection lives; ArchiveLockedError otherwise."""
        (held,) = (await self._call("SELECT pg_try_advisory_lock(hashtext(%s))", (self._lock_key + ":writer",)))[0]
        if not held:
            raise ArchiveLockedError(
                f"{database_address(self.url)}: another archive's writer (`update` or `run`) is using this database",
                hint="one machine writes an archive; run `newsarchive worker` on the others",
            )

    async def start_round(self) -> int:
        """A new round: the jobs of earlier rounds (a writer killed before it took their results) are dropped."""
        rows = await self._call("DELETE FROM jobs RETURNING round")
        return max((int(round_) for (round_,) in rows), default=0) + 1

    async def enqueue(self, round_: int, kind: str, host: str, per_host: int, payload: dict[str, Any]) -> int:
        rows = await self._call(
            "INSERT INTO jobs (round, kind, host, per_host, payload) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (round_, kind, host, per_host, json.dumps(payload)),
        )
        return int(rows[0][0])

    async def take_finished(self, round_: int) -> list[Finished]:
        """The round's jobs finished since last asked, each handed out once."""
        rows = await self._call(
            "UPDATE jobs SET taken = true WHERE round = %s AND state IN ('done', 'failed') AND NOT taken"
            " RETURNING id, state, result, error",
            (round_,),
        )
        return [Finished(int(id_), state == "done", result, error) for id_, state, result, error in rows]

    async def fail_abandoned(self, max_attempts: int) -> None:
        """Jobs whose lease ran out ``max_attempts`` times fail: their workers died on them."""
        await self._call(
            "UPDATE jobs SET state = 'failed', token = NULL,"
            " error = 'given up: ' || attempts || ' workers took it and none finished it (last: ' || coalesce(worker, '?') || ')'"
            " WHERE state = 'leased' AND lease_until <= now() AND attempts >= %s",
            (max_attempts,),
        )

    async def workers_seen(self, within_s: float) -> list[str]:
        rows = await self._call("SELECT name FROM workers WHERE seen_at > now() - make_interval(secs => %s) ORDER BY name", (within_s,))
        return [str(name) for (name,) in rows]

    # a worker ------------------------------------------------------------------------------

    async def heartbeat(self, worker: str, tokens: list[str], lease_s: float) -> None:
        """The worker is alive: its leases run ``lease_s`` from now."""
        await self._call("INSERT INTO workers (name) VALUES (%s) ON CONFLICT (name) DO UPDATE SET seen_at = now()", (worker,))
        if tokens:
            await self._call(
                "UPDATE jobs SET lease_until = now() + make_interval(secs => %s) WHERE token = ANY(%s::uuid[]) AND state = 'leased'",
                (lease_s, tokens),
            )

    async def claim(self, worker: str, lease_s: float, max_attempts: int) -> Job | None:
        """The oldest job this worker may take now (its host not at its limit), leased to it; None when there is none."""
        from .postgres.connect import translated

        with translated(self.url):
            async with self._turn, self.db.transaction():
                await self.db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key + ":claim",))
                cursor = await self.db.execute(_CLAIM, {"worker": worker, "lease": lease_s, "attempts": max_attempts})
                row = await cursor.fetchone()
        return None if row is None else Job(int(row[0]), str(row[1]), row[2], str(row[3]), int(row[4]))

    async def complete(self, job: Job, worker: str, result: dict[str, Any] | None, error: str | None = None) -> bool:
        """Hand back a job's result (or its failure); False when the lease was lost, and the result is dropped."""
        rows = await self._call(
            "UPDATE jobs SET state = %s, result = %s, error = %s, token = NULL, lease_until = NULL"
            " WHERE id = %s AND token = %s::uuid AND state = 'leased' RETURNING id",
            ("failed" if error is not None else "done", None if result is None else json.dumps(result), error, job.id, job.token),
        )
        if rows:
            await self._call("UPDATE workers SET jobs_done = jobs_done + 1, seen_at = now() WHERE name = %s", (worker,))
        return bool(rows)


def _up_to_date(url: str, schema: str) -> None:
    """The database's schema brought up to date (the index's and the queue's tables), as the index does on opening."""
    from .postgres.index import PostgresIndex

    PostgresIndex(url, schema=schema).close()
