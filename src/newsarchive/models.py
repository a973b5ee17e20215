"""The values passed between stages: frozen dataclasses, no behaviour beyond presentation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class FeedItem:
    """One item as the feed gave it, before any normalising."""

    title: str
    link: str | None
    guid: str | None
    published_ms: int | None  # None: the feed gave no usable date
    body: str  # the fullest HTML field: content:encoded / Atom content, else description


@dataclass(frozen=True, kw_only=True)
class ParsedFeed:
    items: tuple[FeedItem, ...]
    warnings: tuple[str, ...] = ()
    parser: str = "lxml"  # "lxml" (fast path) or "feedparser" (careful fallback)


@dataclass(frozen=True, kw_only=True)
class Article:
    """One article as the archive keeps it: what the article file holds, plus its identity."""

    source: str  # slug
    title: str
    link: str | None  # WHATWG-serialised http(s) address, or None when the feed gave no usable one
    guid: str | None
    pub_ms: int | None  # None only for imported files that say <!--NaN-->
    body: str  # single line, as the file holds it
    keys: tuple[str, ...] = ()  # de-duplication keys: normalised link, guid
    fingerprint: str = ""  # changes only when title or body change beyond white space or encoding
    feed: str | None = None  # the feed it came from
    item_digest: str | None = None  # of the feed item it was read from (normalise.item_digest)


@dataclass(frozen=True, kw_only=True)
class FetchResult:
    """What one feed request produced. ``body`` is None for 304 Not Modified."""

    url: str
    status: int
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    charset: str | None = None
    attempts: int = 1
    elapsed: float = 0.0
    final_url: str | None = None  # where redirects ended, when they did

    @property
    def not_modified(self) -> bool:
        return self.body is None


@dataclass(frozen=True, kw_only=True)
class SourceReport:
    """The outcome of one outlet in one run: one broken feed never stops the others."""

    slug: str
    name: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "error": self.error,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, kw_only=True)
class UpdateReport:
    sources: tuple[SourceReport, ...] = ()
    seconds: float = 0.0
    restored: tuple[tuple[str, str], ...] = ()  # (path, how) of damaged files this run restored
    damaged: tuple[tuple[str, str], ...] = ()  # (path, problem) of damaged files no run could restore yet

    @property
    def failed(self) -> tuple[SourceReport, ...]:
        return tuple(s for s in self.sources if s.failed)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.sources)

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": [s.to_json() for s in self.sources],
            "restored": [{"path": path, "how": how} for path, how in self.restored],
            "damaged": [{"path": path, "problem": problem} for path, problem in self.damaged],
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, kw_only=True)
class ImportReport:
    files: int = 0
    imported: int = 0
    unchanged: int = 0
    duplicates: int = 0
    errors: tuple[str, ...] = field(default=())
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = list(self.errors)
        data["seconds"] = round(self.seconds, 3)
        return data
