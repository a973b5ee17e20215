"""Damage found and repaired: article files deleted, emptied, cut short, replaced by a folder or changed are restored by
the next update from their feed (or a copy the archive keeps); what cannot be restored is reported on every run;
``check`` reads the whole archive and ``check --repair`` fixes what can be fixed."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from newsarchive import pipeline
from newsarchive.archive import Archive
from newsarchive.config import Settings
from newsarchive.index.search import SearchIndex
from newsarchive.pipeline import update
from newsarchive.sources import Source

from .conftest import FeedServer, item, rss, snapshot, sources_file
from .test_pipeline import FAST

pytestmark = pytest.mark.usefixtures("index_backend")  # every test on SQLite and on PostgreSQL

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


@pytest.mark.parametrize("every", [None, 86400.0])
def test_damage_found_after_the_feed_answered_reads_the_feed_whole_again_even_when_the_outlet_is_not_due(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: float | None
) -> None:
    """The run looks at the archive's files while the first feeds are on their way: an outlet found damaged after its
    feed answered 304 asks again without validators, and one not due (``every``) is fetched anyway."""
    archive, url = _archive(server, tmp_path, item(1), item(2), item(3))
    update(archive)
    if every is not None:
        archive.settings = replace(archive.settings, sources=(Source(name="甲", slug="a", feeds=(url,), every=every),))
    before = snapshot(tmp_path)
    (tmp_path / ARTICLE).unlink()
    route = server.routes["/a.xml"]
    asked = len(route.requests)
    looked = pipeline.scan

    def after_the_feed_asked(*args: Any, **options: Any) -> Any:
        waited = time.monotonic() + 5
        while every is None and len(route.requests) == asked and time.monotonic() < waited:
            time.sleep(0.01)
        return looked(*args, **options)

    monkeypatch.setattr(pipeline, "scan", after_the_feed_asked)
    report = update(archive)
    assert report.restored == ((ARTICLE, "restored from the feed"),) and report.damaged == ()
    assert snapshot(tmp_path) == before
    validators = ["if-none-match" in {name.lower() for name in request} for request in route.requests[asked:]]
    assert validators == ([True, False] if every is None else [False])


@pytest.mark.parametrize("slow", [False, True])
def test_a_look_at_the_files_that_fails_stops_the_run_and_fails_no_feed(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, slow: bool
) -> None:
    archive, url = _archive(server, tmp_path, item(1), item(2))
    update(archive)
    route = server.routes["/a.xml"]
    asked = len(route.requests)

    def refused(*args: Any, **options: Any) -> Any:
        waited = time.monotonic() + 5
        while slow and len(route.requests) == asked and time.monotonic() < waited:  # after the feed was asked
            time.sleep(0.01)
        raise PermissionError(13, "Permission denied", str(tmp_path / ARTICLE))

    monkeypatch.setattr(pipeline, "scan", refused)
    with pytest.raises(PermissionError):
        update(archive)
    assert not [record.getMessage() for record in caplog.records if url in record.getMessage()]  # no feed was blamed
    state = archive.index.feed_state(url)
    assert state is not None and (state.failures, state.last_error) == (0, None)  # the archive's failure, not the feed's


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
    checked_archive: tuple[Path, FeedServer], tmp_path: Path, kind: str, index_backend: str
) -> None:
    if index_backend != "sqlite":
        pytest.skip("each case copies one built archive's folder, its index file included: an index in PostgreSQL stays behind")
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
    assert report.checked["articles"] == 3 and report.checked["warc_records"] > 0
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


def test_update_reports_what_it_cannot_restore_on_every_run(server: FeedServer, tmp_path: Path) -> None:
    from .test_cli import explain, run

    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", rss(item(1), item(2), item(3)))]})
    archive = tmp_path / "archive"
    run("init", archive)
    assert run("update", "-a", archive, "--sources", sources).returncode == 0
    server.add("/a.xml", rss(item(1), item(3)))  # the feed no longer carries the second article
    (archive / ARTICLE).unlink()
    for _ in range(2):
        result = run("update", "-a", archive, "--sources", sources)
        assert result.returncode == 1, explain(result)
        assert f"damaged: {ARTICLE}: missing; not restored" in result.stderr, explain(result)
    result = run("update", "-a", archive, "--sources", sources, "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["damaged"] == [{"path": ARTICLE, "problem": "missing"}]
    result = run("check", "-a", archive, "--json")
    assert result.returncode == 1, explain(result)
    report = json.loads(result.stdout)
    assert [(f["part"], f["path"], f["repaired"]) for f in report["findings"]] == [("articles", ARTICLE, None)]
    assert report["checked"]["articles"] == 3 and not report["ok"]
    (archive / "articles/a/1048573.md").write_bytes((archive / "articles/a/1048574.md").read_bytes().replace(b"1", b"2"))
    result = run("check", "-a", archive)
    assert result.returncode == 1 and f"wrong: articles: {ARTICLE}: its date or link is not" in result.stderr, explain(result)


def test_a_damaged_revision_is_reported_and_a_revision_with_the_same_text_restores_an_article(server: FeedServer, tmp_path: Path) -> None:
    archive, _ = _archive(server, tmp_path, item(1), item(2), etag=None)
    update(archive)
    for body in ("<p>改过的正文。</p>", None):  # edited, then edited back: a revision holds the current text too
        server.add("/a.xml", rss(item(1), item(2, body=body)))
        update(archive)
    revisions = sorted(tmp_path.glob("revisions/a/1048573/*.md"))
    assert len(revisions) == 2
    current = (tmp_path / ARTICLE).read_bytes()
    server.add("/a.xml", b"", status=404)  # no feed to restore from
    (tmp_path / ARTICLE).unlink()
    _truncate(revisions[1])
    report = update(archive)
    assert report.restored == ((ARTICLE, "restored from an earlier version with the same text"),)
    assert (tmp_path / ARTICLE).read_bytes() == current
    revision = str(revisions[1].relative_to(tmp_path))
    assert [path for path, _ in report.damaged] == [revision]
    assert [path for path, _ in update(archive).damaged] == [revision]  # every run


@pytest.mark.parametrize("damage", [_search_deleted, _search_damaged], ids=["deleted", "damaged"])
def test_search_rebuilds_a_missing_or_damaged_search_index(server: FeedServer, tmp_path: Path, damage: Callable[[Path], None]) -> None:
    from .test_cli import explain, run

    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", rss(item(1), item(2), item(3)))]})
    archive = tmp_path / "archive"
    run("init", archive)
    run("update", "-a", archive, "--sources", sources)
    damage(archive)
    result = run("search", "新闻", "-a", archive)
    assert result.returncode == 0 and result.stdout.count("articles/a/") == 3, explain(result)
    assert "the search index" in result.stderr and "rebuilding it" in result.stderr and "Traceback" not in result.stderr
    damage(archive)
    result = run("reindex", "-a", archive)
    assert result.returncode == 0, explain(result)
    assert SearchIndex(archive / ".newsarchive/search").documents() == 3


def test_search_on_an_archive_a_killed_run_left_says_so_once(server: FeedServer, tmp_path: Path) -> None:
    from .test_cli import explain, run

    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", rss(item(1)))]})
    archive = tmp_path / "archive"
    run("init", archive)
    run("update", "-a", archive, "--sources", sources)
    db = sqlite3.connect(archive / ".newsarchive/index.sqlite")
    searched = db.execute("SELECT key, value FROM meta WHERE key LIKE 'search:%'").fetchall()
    server.add("/a.xml", rss(*(item(n) for n in range(1, 40))))
    run("update", "-a", archive, "--sources", sources)
    # What a run killed after committing its index and before renaming its files leaves: rows and a journal, no files,
    # and a search index that has not caught up.
    new = [path for (path,) in db.execute("SELECT path FROM articles WHERE file_id < 1048574")]
    with db:
        db.executemany("INSERT INTO journal VALUES (?)", [(f"file:{path}",) for path in new])
        db.executemany("UPDATE meta SET value = ? WHERE key = ?", [(value, key) for key, value in searched])
        db.execute("UPDATE feeds SET body_hash = NULL")  # a run's feed state is saved last
    db.close()
    for path in new:
        (archive / path).unlink()
    result = run("search", "新闻", "-a", archive)
    assert result.returncode == 0, explain(result)
    assert len(result.stderr.splitlines()) <= 2 and "interrupted" in result.stderr and "next `update` completes it" in result.stderr, (
        explain(result)
    )
    assert run("update", "-a", archive, "--sources", sources).returncode == 0
    result = run("search", "新闻", "-a", archive, "--limit", "100")
    assert result.stdout.count("articles/a/") == 39 and result.stderr == "", explain(result)
