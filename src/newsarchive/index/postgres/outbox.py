"""The outbox: the archive's files as readers on other machines need them (``store/replica.py``).

One row per path, its newest state: writing a path again (or removing it) deletes its older row and appends a new one,
so the table holds what the archive holds (plus a row per removed file), and a reader that has every row up to ``seq``
needs only the rows after it. ``seq`` grows in commit order because the archive's one writer appends through one
connection (the store's), one transaction after another.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import Part

EPOCH = "outbox:epoch"  # meta: set when the outbox holds every file; a new one means readers start over


class OutboxQueries(Part):
    def outbox_put(self, files: Iterable[tuple[str, bytes | None]]) -> None:
        """Publish each ``(path, bytes)``; ``None`` for a file removed."""
        latest = dict(files)
        if not latest:
            return
        with self.atomic():
            self._run("DELETE FROM outbox WHERE path = ANY(%s)", (list(latest),))
            self._many("INSERT INTO outbox (path, data) VALUES (%s, %s)", latest.items())

    def outbox_since(self, seq: int, limit: int) -> list[tuple[int, str, bytes | None]]:
        """The rows after ``seq``, oldest first, at most ``limit`` of them."""
        return [
            (int(row[0]), str(row[1]), None if row[2] is None else bytes(row[2]))
            for row in self._all("SELECT seq, path, data FROM outbox WHERE seq > %s ORDER BY seq LIMIT %s", (seq, limit))
        ]

    def outbox_empty(self) -> bool:
        return self._one("SELECT 1 FROM outbox LIMIT 1") is None
