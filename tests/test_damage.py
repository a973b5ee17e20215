"""Damage found and repaired: article files deleted, emptied, cut short, replaced by a folder or changed are restored by
the next update from their feed (or a copy the archive keeps); what cannot be restored is reported on every run;
``check`` reads the whole archive and ``check --repair`` fixes what can be fixed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from newsarchive.config import Settings
from newsarchive.pipeline import update
from newsarchive.sources import Source
from newsarchive.store.archive import Archive

from .conftest import FeedServer, item, rss, snapshot
from .test_pipeline import FAST

ARTICLE = "articles/a/1048573.md"


def _delete(path: Path) -> None:
    path.unlink()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-9])


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "note.txt").write_text("not an article")


def _change(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # one bit of the body, same size
    path.write_bytes(bytes(data))


def _change_date(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"<!--17", b"<!--16", 1))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "deleted": _delete,
    "emptied": _empty,
    "truncated": _truncate,
    "replaced by a folder": _folder,
    "bytes changed": _change,
    "date changed": _change_date,
}


def _archive(server: FeedServer, tmp_path: Path, *items: dict[str, str], etag: str | None = '"v1"') -> tuple[Archive, str]:
    url = server.add("/a.xml", rss(*items), etag=etag)
    Archive.init(tmp_path).close()
    return Archive.open(tmp_path, settings=Settings(sources=(Source(name="甲", slug="a", feeds=(url,)),), fetch=FAST)), url


@pytest.mark.parametrize("kind", DAMAGE)
def test_update_restores_a_damaged_article_from_its_feed(server: FeedServer, tmp_path: Path, kind: str) -> None:
    archive, _ = _archive(server, tmp_path, item(1), item(2), item(3))
    update(archive)
    before = snapshot(tmp_path)
    DAMAGE[kind](tmp_path / ARTICLE)
    report = update(archive)  # the feed answers 304 to its ETag: the damage alone makes it read again
    assert report.restored == ((ARTICLE, "restored from the feed"),) and report.damaged == ()
    assert (report.new, report.updated) == (0, 0)
    after = snapshot(tmp_path)
    assert after == before, kind
    assert not list(tmp_path.glob("revisions/**/*.md"))  # the damaged bytes are no earlier version
    if kind == "replaced by a folder":  # moved aside, not deleted
        assert [p.read_text() for p in (tmp_path / ".newsarchive/damaged").rglob("note.txt")] == ["not an article"]
    again = update(archive)
    assert (again.restored, again.damaged) == ((), ())
    assert snapshot(tmp_path) == before
