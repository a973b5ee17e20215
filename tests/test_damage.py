"""Damage found and repaired: article files deleted, emptied, cut short, replaced by a folder or changed are restored by
the next update from their feed (or a copy the archive keeps); what cannot be restored is reported on every run;
``check`` reads the whole archive and ``check --repair`` fixes what can be fixed."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
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


def _archive_with_everything(server: FeedServer, tmp_path: Path) -> tuple[Archive, str]:
    """An archive with an article edited once (a revision), an image, WARC files of several runs and a search index."""
    from .test_media import png

    server.add("/pic.png", png(4, 3))
    body = f'<p>第1条新闻的正文。</p><img src="{server.base}/pic.png">'
    url = server.add("/a.xml", rss(item(1, body=body), item(2), item(3)))
    Archive.init(tmp_path).close()
    archive = Archive.open(tmp_path, settings=_settings(server))
    update(archive)
    server.add("/a.xml", rss(item(1, body=body), item(2, body="<p>改过的正文。</p>"), item(3)))
    update(archive)
    for n in range(4):  # more records in the day's WARC file, so that damage can lie in its middle
        server.add("/a.xml", rss(item(1, body=body), item(2, body=f"<p>改过的正文。</p>{'再' * n}"), item(3)))
        update(archive)
    return archive, url


def _settings(server: FeedServer) -> Settings:
    return Settings(sources=(Source(name="甲", slug="a", feeds=(f"{server.base}/a.xml",), allow_private=True),), fetch=FAST)


def _warc_middle(root: Path) -> None:
    (path,) = root.glob("warc/*.warc.gz")
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 2, len(data) // 2 + 40):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _image(root: Path) -> None:
    (path,) = root.glob("media/*/*.png")
    path.write_bytes(path.read_bytes()[:-3] + b"xyz")


def _revision(root: Path) -> None:
    (path,) = sorted(root.glob("revisions/a/1048573/*.md"))[:1]
    _truncate(path)


def _search_deleted(root: Path) -> None:
    shutil.rmtree(root / ".newsarchive/search")


def _search_damaged(root: Path) -> None:
    for path in (root / ".newsarchive/search").iterdir():
        if path.suffix in (".term", ".idx"):
            path.write_bytes(b"\0" * 3)


def _list(root: Path) -> None:
    path = root / "lists/甲.md"
    path.write_text(path.read_text().replace("第3条", "第9条"))


# kind -> (damage, the part and path check names, repaired by --repair alone)
CHECKED: dict[str, tuple[Callable[[Path], None], str, str, bool]] = {
    **{kind: (lambda root, damage=damage: damage(root / ARTICLE), "articles", ARTICLE, False) for kind, damage in DAMAGE.items()},
    "revision truncated": (_revision, "revisions", "revisions/a/1048573/", False),
    "image damaged": (_image, "media", "media/", True),
    "WARC day file damaged in the middle": (_warc_middle, "warc", "warc/", True),
    "search index deleted": (_search_deleted, "search", ".newsarchive/search", True),
    "search index damaged": (_search_damaged, "search", ".newsarchive/search", True),
    "list changed": (_list, "lists", "lists/甲.md", True),
}


def _everything(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the archive, the index included, with its bytes and modification time (SQLite's own -wal and -shm aside)."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture(scope="module")
def checked_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FeedServer]]:
    feed_server = FeedServer()
    root = tmp_path_factory.mktemp("everything")
    archive, _ = _archive_with_everything(feed_server, root)
    archive.close()
    yield root, feed_server
    feed_server.close()


@pytest.mark.parametrize("kind", CHECKED)
def test_check_finds_each_kind_of_damage_and_repair_fixes_what_it_can(
    checked_archive: tuple[Path, FeedServer], tmp_path: Path, kind: str
) -> None:
    built, server = checked_archive
    root = tmp_path / "archive"
    shutil.copytree(built, root)
    with Archive.open(root, settings=_settings(server)) as archive:
        assert archive.check().findings == ()
    damage, part, where, repairable = CHECKED[kind]
    damage(root)
    before = _everything(root)
    with Archive.open(root, settings=_settings(server)) as archive:
        report = archive.check()
    assert _everything(root) == before  # read-only
    assert not report.ok and [(f.part, f.path.startswith(where), f.repaired) for f in report.findings] == [(part, True, None)], report
    assert report.checked["articles"] == 3 and report.checked["warc records"] > 0
    with Archive.open(root, settings=_settings(server)) as archive:
        repaired = archive.check(repair=True)
        assert repaired.ok == repairable, repaired
        assert archive.check().ok == repairable
    if part == "articles":  # the feed carries it: the next update restores it
        with Archive.open(root, settings=_settings(server)) as archive:
            assert update(archive).restored == ((ARTICLE, "restored from the feed"),)
            assert archive.check().ok
    if kind == "image damaged":  # downloaded again by the next update
        with Archive.open(root, settings=_settings(server)) as archive:
            update(archive)
            assert archive.check().ok
