"""``newsarchive export``: the archive for research, one record per article version, as JSON Lines or Parquet.

Records come in the index's order (outlet, then file id: newest first), each article's earlier versions oldest
first and then its current one. The export streams: one cursor over the index, each file read and its record
written at once (Parquet: in row groups of a few thousand records), so memory stays flat at any size. A file
that cannot be read is reported through ``on_skip`` and left out; the export goes on.

Fields of a record, in this order (``FIELDS``):

- ``source`` (outlet slug), ``outlet`` (its name), ``path`` (the article file);
- ``version``: ``"current"`` or the path of the earlier version under ``revisions/``;
- ``seen_ms`` / ``seen_at``: when this version was first seen (null for files imported from elsewhere);
- ``pub_ms`` / ``published_at``: the publication time in the file;
- ``title``, ``link``, ``html`` (the body exactly as stored), ``text`` (its readable text);
- ``links`` (absolute http(s) addresses of its links) and ``images`` (those of the images a reader sees);
- ``takedown``: null, or for an article its outlet removed (recheck.py) ``{"how", "url", "first_seen_gone_at",
  "confirmed_at"}`` (in Parquet that object as a JSON string).

Times ending in ``_ms`` are milliseconds since 1970; those ending in ``_at`` are ISO 8601 UTC strings in JSON
Lines and ``timestamp[ms, UTC]`` in Parquet.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import lxml.etree

from .errors import ArticleFileError, ConfigError
from .html import image_urls, link_urls, plain_text
from .store.atomic import TMP_SUFFIX
from .times import iso

if TYPE_CHECKING:
    from .index import ArticleRow
    from .store.store import Store

FORMATS = ("jsonl", "parquet")
FIELDS = (
    "source",
    "outlet",
    "path",
    "version",
    "seen_ms",
    "seen_at",
    "pub_ms",
    "published_at",
    "title",
    "link",
    "html",
    "text",
    "links",
    "images",
    "takedown",
)
CURRENT = "current"
ROW_GROUP_RECORDS = 2000
ROW_GROUP_BYTES = 32 << 20  # long bodies close a row group sooner, so memory stays bounded whatever their size
PARQUET_HINT = "pip install 'newsarchive[parquet]'"

ExportTarget = str | os.PathLike[str] | IO[bytes]  # a file to write atomically, or an open binary stream (standard output)
SkipHandler = Callable[[str, str], None]  # (path, reason)


@dataclass(frozen=True, kw_only=True)
class ExportReport:
    records: int
    articles: int
    skipped: int
    output: str | None  # the file written; None for a stream
    seconds: float


def export(
    archive: Store,
    target: ExportTarget,
    *,
    format: str = "jsonl",
    source: str | None = None,
    since_ms: int | None = None,
    on_skip: SkipHandler | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write one record per article version to ``target``: a path (written beside it, then renamed) or a binary
    stream. ``source`` keeps one outlet, ``since_ms`` the articles published from then on (all their versions).
    A file that cannot be read goes to ``on_skip`` and is counted in ``skipped``."""
    if isinstance(target, (str, os.PathLike)):
        target = Path(target)
    if format not in FORMATS:
        raise ConfigError(f"--format {format}: unknown export format", hint=f"use one of {', '.join(FORMATS)}")
    if source is not None and source not in archive.index.sources_present():
        known = ", ".join(archive.index.sources_present()) or "none yet"
        raise ConfigError(f"--source {source}: no such outlet in {archive.root} (outlets: {known})", hint="give an outlet's slug")
    if format == "parquet":
        _require_pyarrow()
        if not isinstance(target, Path) and target.isatty():
            raise ConfigError("Parquet is binary and standard output is a terminal", hint="give --output FILE or redirect the output")
    started = time.perf_counter()
    with _opened(target) as stream:
        writer = _ParquetWriter(stream) if format == "parquet" else _JsonLinesWriter(stream)
        exporter = _Exporter(archive, writer, on_skip)
        articles = 0
        for articles, (_, versions) in enumerate(itertools.groupby(archive.index.versions(source, since_ms), key=_rowid), start=1):
            row: ArticleRow | None = None
            for row, revision, seen_ms in versions:
                if revision is not None:
                    exporter.put(row, revision, seen_ms)
            assert row is not None  # groupby makes no empty group
            exporter.put(row, CURRENT, row.updated_ms)
            if on_progress and articles % 1000 == 0:
                on_progress(exporter.records)
        writer.close()
    return ExportReport(
        records=exporter.records,
        articles=articles,
        skipped=exporter.skipped,
        output=str(target) if isinstance(target, Path) else None,
        seconds=time.perf_counter() - started,
    )


def _rowid(version: tuple[ArticleRow, str | None, int | None]) -> int:
    return version[0].rowid


class _Exporter:
    """Turns index rows into records: reads the version's file, derives text, links and images, writes."""

    def __init__(self, archive: Store, writer: _JsonLinesWriter | _ParquetWriter, on_skip: SkipHandler | None) -> None:
        self.archive = archive
        self.writer = writer
        self.on_skip = on_skip
        self.names: dict[str, str] = {}
        self.records = 0
        self.skipped = 0
        self.takedowns = {  # confirmed takedowns are few: read once
            row.rowid: {"how": how, "url": url, "first_seen_gone_at": iso(first_ms), "confirmed_at": iso(confirmed_ms)}
            for row, first_ms, confirmed_ms, how, url, _ in archive.index.takedowns()
        }

    def put(self, row: ArticleRow, version: str, seen_ms: int | None) -> None:
        path = row.path if version == CURRENT else version
        try:
            stored = self.archive.read(path)
            html, link = stored.body, stored.link
            derived = {"text": plain_text(html), "links": link_urls(html, link), "images": image_urls(html, link or "")}
        except (OSError, UnicodeDecodeError, ArticleFileError, ValueError, lxml.etree.LxmlError) as exc:
            self.skipped += 1
            if self.on_skip:
                self.on_skip(path, _reason(exc))
            return
        if row.source not in self.names:
            self.names[row.source] = self.archive.source_name(row.source)
        self.writer.write(
            {
                "source": row.source,
                "outlet": self.names[row.source],
                "path": row.path,
                "version": version,
                "seen_ms": seen_ms,
                "seen_at": iso(seen_ms),
                "pub_ms": stored.pub_ms,
                "published_at": iso(stored.pub_ms),
                "title": stored.title,
                "link": link,
                "html": html,
                **derived,
                "takedown": self.takedowns.get(row.rowid),
            }
        )
        self.records += 1


def _reason(exc: Exception) -> str:
    if isinstance(exc, ArticleFileError):
        return f"line {exc.line}: {exc.reason}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.start})"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"its body could not be read: {exc}"


@contextmanager
def _opened(target: Path | IO[bytes]) -> Iterator[IO[bytes]]:
    """The stream to write to. A path is written beside it and renamed over it once complete and durable, so a
    reader or a crash never sees half an export; a failed export leaves whatever was there before."""
    if not isinstance(target, Path):
        yield target
        target.flush()
        return
    temporary = target.with_name(target.name + TMP_SUFFIX)
    try:
        stream = open(temporary, "wb", buffering=1 << 20)  # noqa: SIM115 - closed below, before the rename
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write the export: {exc.strerror}", hint="give --output a writable file path") from exc
    try:
        with stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, most likely; what was at the path stays
            raise ConfigError(f"{target}: the export could not be written: {exc}", hint="free some disk space, or write elsewhere") from exc
        raise
    folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)  # make the rename itself durable
    finally:
        os.close(folder)


class _JsonLinesWriter:
    """One JSON object per line, UTF-8, non-ASCII as is."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")

    def close(self) -> None:
        self.stream.flush()


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("--format parquet needs pyarrow, which is not installed", hint=PARQUET_HINT) from None


def parquet_schema() -> Any:
    """The fixed Parquet schema: the same fields as the JSON records, times ``_at`` as UTC timestamps."""
    import pyarrow as pa

    types = dict.fromkeys(FIELDS, pa.string())
    types |= {"seen_ms": pa.int64(), "pub_ms": pa.int64(), "links": pa.list_(pa.string()), "images": pa.list_(pa.string())}
    types |= {"seen_at": pa.timestamp("ms", tz="UTC"), "published_at": pa.timestamp("ms", tz="UTC")}
    return pa.schema([(name, types[name]) for name in FIELDS])


# Arrow builds a timestamp column from the milliseconds as they are
_MILLISECONDS_OF = {"seen_at": "seen_ms", "published_at": "pub_ms"}


class _ParquetWriter:
    """Records gathered into row groups of at most ``ROW_GROUP_RECORDS`` records (or ``ROW_GROUP_BYTES`` of text),
    each written as soon as it is full. zstd: text compresses well with it and every reader knows it."""

    def __init__(self, stream: IO[bytes]) -> None:
        import pyarrow.parquet as pq

        self.schema = parquet_schema()
        self.writer = pq.ParquetWriter(stream, self.schema, compression="zstd")
        self.columns: dict[str, list[Any]] = {name: [] for name in FIELDS}
        self.size = 0

    def write(self, record: dict[str, Any]) -> None:
        for name in FIELDS:
            self.columns[name].append(record[_MILLISECONDS_OF.get(name, name)])
        if record["takedown"] is not None:  # a string column: the schema stays the same with or without takedowns
            self.columns["takedown"][-1] = json.dumps(record["takedown"], ensure_ascii=False)
        self.size += len(record["html"]) + len(record["text"])
        if len(self.columns["source"]) >= ROW_GROUP_RECORDS or self.size >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.columns["source"]:
            self.writer.write_table(pa.Table.from_pydict(self.columns, schema=self.schema))
        self.columns = {name: [] for name in FIELDS}
        self.size = 0

    def close(self) -> None:
        self._flush()
        self.writer.close()
