"""Full text (fulltext.py) in the index: the summaries table, and what a worker reads of the stored versions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .files import NOT_DAMAGED
from .rows import IndexPart, read_only_rows_in

if TYPE_CHECKING:
    from .rows import ArticleRow


SUMMARIES_SCHEMA = """\
CREATE TABLE IF NOT EXISTS summaries (  -- full text (fulltext.py): the feed's own body of articles that want the page's
    article INTEGER PRIMARY KEY REFERENCES articles (rowid) ON DELETE CASCADE,
    text TEXT NOT NULL,                 -- the feed's body (the summary), as the file would have held it
    fingerprint TEXT NOT NULL,          -- of the feed's title and body: this feed version is known again without its page
    page INTEGER NOT NULL,              -- 1: the file holds the page's text; 0: the feed's body, the page still wanted
    tries INTEGER NOT NULL DEFAULT 0,   -- page fetches or extractions that failed in a row
    etag TEXT,                          -- the page's validators, for a conditional GET when the feed's body changes
    last_modified TEXT
);
"""


@dataclass(frozen=True, kw_only=True)
class StoredVersion:
    """What full text needs to know of a stored article: its version, and the feed version it holds the page of."""

    fingerprint: str
    body_length: int | None
    origin: str | None
    summary_fingerprint: str | None = None  # None: no summaries row
    page: bool = False  # the file holds the page's text
    tries: int = 0
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, kw_only=True)
class Summary:
    """A summaries row to write, for the article holding one of ``keys``."""

    keys: tuple[str, ...]
    text: str
    fingerprint: str
    page: bool
    tries: int = 0
    etag: str | None = None
    last_modified: str | None = None


class IndexReader(Protocol):
    """What workers (threads or spawned processes) ask of the index, read-only, while the store writes: picklable, so
    that it travels to a process; the index hands it out (``IndexBackend.reader``)."""

    def stored(self, keys: list[str]) -> dict[str, StoredVersion]:
        """Key -> the stored version of the article holding it. A damaged article is left out, so that the feed's copy
        of it is staged and restores it."""
        ...

    def known_items(self, digests: list[str]) -> dict[str, int]:
        """Digest -> article, of those of the feed items (normalise.item_digest) that gave or matched the version of
        their article stored now: such an item need not be read again. A damaged article's are left out, as ``stored``
        leaves it out."""
        ...


@dataclass(frozen=True)
class SqliteReader:
    """``IndexReader`` of an SQLite index: a read-only connection of its own per question (WAL lets readers run beside
    the writer); nothing is known while there is no index yet: everything is new then, and the store decides for certain."""

    path: str

    def stored(self, keys: list[str]) -> dict[str, StoredVersion]:
        return stored_versions(read_only_rows_in(self.path, STORED_QUERY + " k.key IN ({marks})", keys))

    def known_items(self, digests: list[str]) -> dict[str, int]:
        return dict(read_only_rows_in(self.path, KNOWN_ITEMS_QUERY + " i.digest IN ({marks})", digests))


# What a worker asks of the stored versions (both backends): completed by the condition on the keys.
STORED_QUERY = (
    "SELECT k.key, a.fingerprint, a.body_length, a.origin, s.fingerprint, s.page, s.tries, s.etag, s.last_modified"
    " FROM article_keys AS k JOIN articles AS a ON a.rowid = k.article LEFT JOIN summaries AS s ON s.article = a.rowid"
    f" WHERE {NOT_DAMAGED} AND"
)

KNOWN_ITEMS_QUERY = (
    "SELECT i.digest, i.article FROM feed_items AS i JOIN articles AS a ON a.rowid = i.article AND a.fingerprint = i.fingerprint"
    f" WHERE {NOT_DAMAGED} AND"
)


def stored_versions(rows: Iterable[Sequence[Any]]) -> dict[str, StoredVersion]:
    """Key -> stored version, from the rows of ``STORED_QUERY``."""
    return {
        key: StoredVersion(
            fingerprint=fingerprint,
            body_length=length,
            origin=origin,
            summary_fingerprint=summary,
            page=bool(page),
            tries=tries or 0,
            etag=etag,
            last_modified=modified,
        )
        for key, fingerprint, length, origin, summary, page, tries, etag, modified in rows
    }


class SummaryIndex(Protocol):
    """Full text: the feed's own body of articles whose file holds their page's text (fulltext.py)."""

    def save_summaries(self, summaries: Iterable[Summary]) -> int: ...

    def feed_version(self, article: int) -> tuple[str, str] | None: ...

    def forget_feed_version(self, article: int) -> None: ...

    def summary(self, article: int) -> str | None: ...


class SummaryQueries(IndexPart):
    """The summaries part of ``Index``."""

    if TYPE_CHECKING:

        def find_many(self, keys: Iterable[str]) -> dict[str, ArticleRow]: ...

    def save_summaries(self, summaries: Iterable[Summary]) -> int:
        """Write the summaries rows of the articles holding their keys (one with none is skipped); returns the rows written."""
        written = 0
        for summary in summaries:
            found = self.find_many(summary.keys)
            row = next((found[key] for key in summary.keys if key in found), None)
            if row is None:
                continue
            self.db.execute(
                "INSERT OR REPLACE INTO summaries (article, text, fingerprint, page, tries, etag, last_modified)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.rowid, summary.text, summary.fingerprint, int(summary.page), summary.tries, summary.etag, summary.last_modified),
            )
            written += 1
        return written

    def feed_version(self, article: int) -> tuple[str, str] | None:
        """(fingerprint, body) of the version the feeds carry of an article whose file holds other text (its
        page's), when one is recorded."""
        row = self.db.execute("SELECT fingerprint, text FROM summaries WHERE article = ?", (article,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def forget_feed_version(self, article: int) -> None:
        self.db.execute("DELETE FROM summaries WHERE article = ?", (article,))

    def summary(self, article: int) -> str | None:
        """The feed's own body of an article whose file holds its page's text, or None."""
        row = self.db.execute("SELECT text FROM summaries WHERE article = ? AND page = 1", (article,)).fetchone()
        return str(row[0]) if row else None

    def _carry_over_summaries(self, old_path: Path) -> None:
        # Matched by path and fingerprint, as the other carried-over article facts: row ids change in a rebuild.
        self._carry_over(
            old_path,
            "summaries",
            "INSERT OR IGNORE INTO summaries (article, text, fingerprint, page, tries, etag, last_modified)"
            " SELECT a.rowid, s.text, s.fingerprint, s.page, s.tries, s.etag, s.last_modified FROM old.summaries AS s"
            " JOIN old.articles AS o ON o.rowid = s.article JOIN articles AS a ON a.path = o.path AND a.fingerprint = o.fingerprint",
        )
