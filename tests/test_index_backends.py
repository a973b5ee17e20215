"""The index's behaviour, the same on both backends: every test here runs against the SQLite ``Index`` and against
``PostgresIndex`` on a real server (tests/pg.py), so that the two cannot drift apart."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from newsarchive.errors import ArchiveError, StorageError
from newsarchive.index.captures import CaptureRow
from newsarchive.index.db import Index
from newsarchive.index.feeds import FeedState
from newsarchive.index.images import MediaRow, MediaStats
from newsarchive.index.rows import ArticleRow
from newsarchive.index.summaries import StoredVersion, Summary

DAY = 86_400_000


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A factory of indexes of one backend, all on the same store: ``open(read_only=False)``."""
    if request.param == "sqlite":
        opened: list[Any] = []

        def open_sqlite(read_only: bool = False) -> Index:
            opened.append(Index(tmp_path / "index.sqlite", read_only=read_only))
            return opened[-1]

        yield open_sqlite
    else:
        url = request.getfixturevalue("pg_url")
        from newsarchive.index.postgres import PostgresIndex

        opened = []

        def open_pg(read_only: bool = False) -> PostgresIndex:
            opened.append(PostgresIndex(url, read_only=read_only))
            return opened[-1]

        yield open_pg
    for index in opened:
        index.close()


@pytest.fixture
def index(backend: Any) -> Any:
    return backend()


def article(file_id: int, source: str = "rfi", **values: Any) -> ArticleRow:
    fields: dict[str, Any] = {
        "rowid": 0,
        "source": source,
        "file_id": file_id,
        "path": f"articles/{source}/{file_id}.md",
        "title": f"标题 {file_id}",
        "link": f"https://{source}.example.org/{file_id}",
        "guid": None,
        "pub_ms": 1_780_000_000_000 + (1_048_576 - file_id) * 3_600_000,
        "fingerprint": f"fp{file_id}",
        "first_seen_ms": 1_780_000_000_000,
        "updated_ms": 1_780_000_000_000,
        "origin": f"https://{source}.example.org/feed",
        "body_length": 100,
    }
    fields.update(values)
    return ArticleRow(**fields)


def added(index: Any, row: ArticleRow, *keys: str) -> ArticleRow:
    rowid = index.add_article(row, keys or (f"link:{row.source}:{row.link}",))
    return replace(row, rowid=rowid)


def test_the_postgresql_index_has_every_public_method_of_the_sqlite_one() -> None:
    pytest.importorskip("psycopg")
    from newsarchive.index.postgres import PostgresIndex

    differs = {"carry_over_from", "reader"}  # an old schema of the same database, not a file; its own reader type
    for name, method in inspect.getmembers(Index, callable):
        if name.startswith("_"):
            continue
        assert hasattr(PostgresIndex, name), f"PostgresIndex has no {name}"
        if name not in differs:
            assert inspect.signature(getattr(PostgresIndex, name)) == inspect.signature(method), name


def test_articles_keys_and_their_orders(index: Any) -> None:
    a = added(index, article(1_048_575), "link:rfi:a", "guid:rfi:a")
    b = added(index, article(1_048_574, guid="g2"), "link:rfi:b")
    undated = added(index, article(1_048_573, pub_ms=None, first_seen_ms=None), "link:rfi:c")
    d = added(
        index,
        article(1_048_575, source="dw", pub_ms=a.pub_ms - 1, first_seen_ms=1_780_000_100_000, updated_ms=1_780_000_100_000),
        "link:dw:d",
    )
    assert index.find_many(["link:rfi:a", "guid:rfi:a", "link:dw:d", "nothing", "link:rfi:a"]) == {
        "link:rfi:a": a,
        "guid:rfi:a": a,
        "link:dw:d": d,
    }
    assert index.article_at(b.path) == b and index.article_at("articles/rfi/1.md") is None
    assert index.articles_at([a.path, d.path, "x"]) == {a.path: a, d.path: d}
    assert index.article_by_rowid(undated.rowid) == undated and index.article_by_rowid(10**9) is None
    assert index.paths_in("articles/rfi/") == {a.path, b.path, undated.path}
    assert index.lowest_file_id("rfi") == 1_048_573 and index.lowest_file_id("voa") is None
    assert index.newest("rfi", 2) == [undated, b]
    assert index.newest_overall(4) == [b, a, d, undated]  # undated last
    assert index.oldest_first("rfi", 1, 5) == [b, undated]
    assert list(index.articles()) == [d, undated, b, a] and list(index.articles("rfi")) == [undated, b, a]
    assert index.count("rfi") == 3 and index.counts() == {"rfi": 3, "dw": 1} and index.sources_present() == ["dw", "rfi"]
    assert index.seen_times("rfi", 5) == [1_780_000_000_000] and index.seen_times("dw", 5) == [1_780_000_100_000]
    assert index.count_seen_since("rfi", 1_780_000_000_000) == 2 and index.count_seen_since("dw", 1_780_000_100_001) == 0
    assert index.articles_with_id("rfi", 1_048_575) == [a]
    # a new version at the same path keeps the row id and the first-seen time
    again = replace(a, title="改", fingerprint="fp-new", first_seen_ms=1_790_000_000_000, updated_ms=1_790_000_000_000)
    assert index.add_article(again, ["link:rfi:a"]) == a.rowid
    newer = replace(again, first_seen_ms=a.first_seen_ms)
    assert index.article_at(a.path) == newer
    assert [row.rowid for row in index.changed_since(b.rowid, 1_780_000_000_000)] == [a.rowid, undated.rowid, d.rowid]
    # a key held by an older article (higher id) moves to a newer one, never back
    newest = added(index, article(1_048_570), "link:rfi:b")
    assert index.find_many(["link:rfi:b"])["link:rfi:b"].rowid == newest.rowid
    added(index, article(1_048_576), "link:rfi:b")
    assert index.find_many(["link:rfi:b"])["link:rfi:b"].rowid == newest.rowid
    index.remove_article(newest.path)
    assert index.find_many(["link:rfi:b"]) == {} and index.article_at(newest.path) is None


def test_revisions(index: Any) -> None:
    a = added(index, article(1_048_575))
    for seen in (3, 1, 2):
        index.add_revision(
            a.rowid, path=f"revisions/rfi/1048575/{seen}.md", title=f"v{seen}", link=a.link, pub_ms=None, seen_ms=seen, fingerprint="f"
        )
    index.add_revision(a.rowid, path="revisions/rfi/1048575/2.md", title="v2 again", link=None, pub_ms=5, seen_ms=2, fingerprint="g")
    assert index.revisions(a.rowid) == [(f"revisions/rfi/1048575/{n}.md", t, n) for n, t in ((1, "v1"), (2, "v2 again"), (3, "v3"))]
    assert index.revision_at("revisions/rfi/1048575/3.md") == (a.rowid, "v3", 3) and index.revision_at("x") is None
    index.remove_revision("revisions/rfi/1048575/3.md")
    assert len(index.revisions(a.rowid)) == 2
    versions = list(index.versions())
    assert [(row.rowid, path, seen) for row, path, seen in versions] == [
        (a.rowid, "revisions/rfi/1048575/1.md", 1),
        (a.rowid, "revisions/rfi/1048575/2.md", 2),
    ]
    b = added(index, article(1_048_574, source="dw", pub_ms=10))
    assert [(row.rowid, path) for row, path, _ in index.versions("dw")] == [(b.rowid, None)]
    assert [row.rowid for row, _, _ in index.versions(since_ms=11)] == [a.rowid, a.rowid]
    index.remove_article(a.path)
    assert index.revision_at("revisions/rfi/1048575/1.md") is None  # with its article


def test_feeds_runs_journal_and_meta(index: Any) -> None:
    state = FeedState(url="https://a.example.org/feed", source="a", etag='"x"', failures=2, items=3, last_attempt_ms=5)
    index.save_feed_state(state)
    index.save_feed_state(FeedState(url="https://a.example.org/b", source="a"))
    index.save_feed_state(replace(state, etag='"y"', failures=0))
    assert index.feed_state(state.url) == replace(state, etag='"y"', failures=0) and index.feed_state("nope") is None
    assert [s.url for s in index.feed_states("a")] == ["https://a.example.org/b", state.url]
    assert index.last_runs("a") == (None, None, None) and index.last_run_ms() is None
    index.record_run("a", started_ms=10, seconds=1.5, new=1, updated=0, unchanged=2, error=None)
    index.record_run("a", started_ms=20, seconds=0.25, new=0, updated=0, unchanged=0, error="gone")
    index.record_run("b", started_ms=30, seconds=0.5, new=0, updated=0, unchanged=0, error=None)
    assert index.last_runs("a") == (10, 20, "gone") and index.last_run_ms() == 30
    index.journal_add(["file:b", "list:a", "file:b"])
    assert index.journal_items() == ["file:b", "list:a"]
    index.journal_clear(["file:b"])
    assert index.journal_items() == ["list:a"]
    assert index.meta("k") is None
    index.set_meta("k", "1")
    index.set_meta("k", "2")
    assert index.meta("k") == "2"


def test_days_and_publication_order(index: Any) -> None:
    offset = 8 * 3_600_000
    rows = [
        added(index, article(1_048_575, pub_ms=-1)),  # just before 1970 in UTC, 1970-01-01 in Beijing
        added(index, article(1_048_574, pub_ms=DAY - offset - 1)),
        added(index, article(1_048_573, pub_ms=DAY - offset)),
        added(index, article(1_048_572, pub_ms=None)),
    ]
    assert index.days(offset) == [(1, 1), (0, 2)]
    assert index.days(0) == [(0, 2), (-1, 1)]
    assert index.published_between(-1, DAY - offset) == [rows[1], rows[0]]
    assert index.around(0, DAY - offset) == (DAY - offset, -1) and index.around(-1, DAY) == (None, None)
    assert list(index.by_publication()) == rows[:3]


def test_file_sizes_and_damage(index: Any) -> None:
    a = added(index, article(1_048_575))
    index.add_revision(a.rowid, path="revisions/rfi/1048575/1.md", title="t", link=None, pub_ms=None, seen_ms=1, fingerprint="f1")
    index.record_files("articles", [(a.path, 120, 99), ("articles/none.md", 1, 1)])
    index.record_files("revisions", [("revisions/rfi/1048575/1.md", 7, 8)])
    assert list(index.file_rows("articles")) == [(a.path, 120, 99, "rfi")]
    assert list(index.file_rows("revisions")) == [("revisions/rfi/1048575/1.md", 7, 8, "rfi")]
    assert index.file_version("articles", a.path) == (a.fingerprint, a.pub_ms, a.link)
    assert index.file_version("revisions", "revisions/rfi/1048575/1.md") == ("f1", None, None)
    index.set_damaged({a.path: "empty", "articles/x.md": "missing"}, 5)
    index.set_damaged({a.path: "cut short"}, 6)
    assert index.damaged() == {a.path: "cut short"}
    index.clear_damaged([a.path])
    assert index.damaged() == {}


def test_captures_and_revisits(index: Any) -> None:
    first = CaptureRow(url="https://a.example.org/", target="https://a.example.org/", captured_ms=1_000, status=200, file="w/1.warc.gz",
                       offset=0, length=100, payload_digest="sha1:A")  # fmt: skip
    moved = replace(first, captured_ms=2_000, status=301, offset=100, length=50, payload_digest=None)
    revisit = replace(first, captured_ms=3_000, offset=150, length=40, original_file="w/1.warc.gz", original_offset=0)
    other = replace(first, url="https://b.example.org/", file="w/2.warc.gz", offset=0)
    for capture in (revisit, moved, first, other):
        index.add_capture(capture)
    assert index.captures_of(first.url) == [first, moved, revisit]
    assert index.capture_for(first.url, 1_500) == revisit and index.capture_for(first.url, 3_001) is None
    assert index.originals_of(first.url, "sha1:A") == [first]
    assert index.originals_of(first.url, "sha1:A", near_ms=1_001) == [first] and index.originals_of(first.url, "sha1:A", near_ms=5) == []
    assert index.capture_end("w/1.warc.gz") == 190 and index.capture_end("w/none") == 0
    assert sorted(index.capture_offsets("w/1.warc.gz")) == [0, 100, 150]
    assert index.capture_files() == ["w/1.warc.gz", "w/2.warc.gz"]
    index.forget_original_offsets("w/1.warc.gz")
    assert index.captures_of(first.url)[-1] == replace(revisit, original_offset=None)
    index.add_capture(replace(revisit, original_file=None, original_offset=None))  # the same place, now a response
    assert not index.captures_of(first.url)[-1].revisit
    index.forget_captures("w/1.warc.gz", 120)
    assert index.captures_of(first.url) == [first] and index.capture_end("w/1.warc.gz") == 100


def test_summaries(index: Any) -> None:
    a = added(index, article(1_048_575), "link:rfi:a")
    summaries = [
        Summary(keys=("nothing", "link:rfi:a"), text="摘要", fingerprint="s1", page=True, etag='"e"'),
        Summary(keys=("x",), text="", fingerprint="", page=False),
    ]
    written = index.save_summaries(summaries)
    assert written == 1
    assert index.feed_version(a.rowid) == ("s1", "摘要") and index.summary(a.rowid) == "摘要"
    index.save_summaries([Summary(keys=("link:rfi:a",), text="摘要二", fingerprint="s2", page=False, tries=2)])
    assert index.feed_version(a.rowid) == ("s2", "摘要二") and index.summary(a.rowid) is None
    index.forget_feed_version(a.rowid)
    assert index.feed_version(a.rowid) is None


def test_images(index: Any) -> None:
    a = added(index, article(1_048_575, source="a"))
    b = added(index, article(1_048_574, source="b"))
    undated = added(index, article(1_048_573, source="b", pub_ms=None))
    assert index.count_images_unread() == 3
    assert index.images_unread(2) == [b, a] and index.images_unread(5, (a.pub_ms, a.rowid)) == [undated]
    index.set_article_images(a.rowid, ["https://i.example.org/1.png", "https://i.example.org/2.png", "https://i.example.org/1.png"])
    index.set_article_images(b.rowid, ["https://i.example.org/2.png"])
    assert index.article_images(a.rowid) == ["https://i.example.org/1.png", "https://i.example.org/2.png"]
    assert index.count_images_unread() == 1 and index.images_unread(5) == [undated]
    assert sorted(index.media_due(0, 10)) == [("https://i.example.org/1.png", {"a"}), ("https://i.example.org/2.png", {"a", "b"})]
    ok = MediaRow("https://i.example.org/1.png", "ab" * 32, "png", 10, "ok", 0, None, None)
    failed = MediaRow("https://i.example.org/2.png", None, None, None, "failed", 1, 100, "timeout")
    index.save_media(ok)
    index.save_media(failed)
    assert index.media_row(ok.url) == ok and index.media_row("x") is None
    assert sorted(index.media_rows([ok.url, failed.url, "x"]), key=lambda m: m.url) == [ok, failed]
    assert index.media_due(99, 10) == [] and index.media_due(100, 10) == [(failed.url, {"a", "b"})]
    assert index.media_stats() == MediaStats(images=1, bytes=10, failed=1, pending=0, skipped=0)
    assert index.referenced_media_paths() == {f"media/ab/{'ab' * 32}.png"} and index.stored_media() == [("ab" * 32, "png")]
    assert index.local_images_by_article() == {a.rowid: [(ok.url, f"media/ab/{'ab' * 32}.png")]}
    index.set_article_images(a.rowid, ["https://i.example.org/3.png"])  # 1.png no longer shown
    assert index.count_unreferenced_media() == 1
    index.forget_unreferenced_media()
    assert index.media_row(ok.url) is None and index.count_unreferenced_media() == 0
    index.save_media(replace(ok, url="https://i.example.org/3.png"))
    index.fetch_media_again("ab" * 32, "file gone")
    again = index.media_row("https://i.example.org/3.png")
    assert (again.status, again.sha256, again.next_try_ms, again.last_error) == ("failed", None, 0, "file gone")
    index.mark_images_read([undated.rowid, undated.rowid])
    assert index.count_images_unread() == 0
    index.add_article(replace(a, fingerprint="new"), [])  # a new version's images are read again
    assert index.images_unread(5) == [replace(a, fingerprint="new")]


def test_rechecks_and_takedowns(index: Any) -> None:
    old = added(index, article(1_048_575, first_seen_ms=100))
    fresh = added(index, article(1_048_574, source="dw", first_seen_ms=1_000))
    added(index, article(1_048_573, first_seen_ms=2_000, link=None))
    assert index.due_rechecks(0, 500, 10, first_gap_ms=300) == [old]
    assert index.due_rechecks(0, 500, 10, first_gaps={"dw": -600}) == [old, fresh]
    assert index.due_rechecks(0, 0, 10, every=True) == [old, fresh]
    index.save_recheck(old.rowid, 5_000, 1, "unchanged", "h1")
    assert index.recheck_state(old.rowid) == (1, "h1") and index.recheck_state(fresh.rowid) == (0, None)
    assert index.due_rechecks(0, 2_000, 10, first_gap_ms=0) == [fresh]
    assert index.due_rechecks(0, 6_000, 10) == [fresh, old]
    index.save_takedown(old.rowid, 50, None, "404", old.link, None)
    assert index.takedown(old.rowid) == (50, None, "404", old.link, None) and index.takedowns() == []
    index.forget_takedown(old.rowid)
    assert index.takedown(old.rowid) is None
    index.save_takedown(old.rowid, 50, 60, "410", old.link, "gone")
    index.save_takedown(fresh.rowid, 51, 70, "redirect", fresh.link, None)
    index.forget_takedown(old.rowid)  # confirmed: stays
    assert index.takedowns() == [(fresh, 51, 70, "redirect", fresh.link, None), (old, 50, 60, "410", old.link, "gone")]
    assert index.takedowns(65) == [(fresh, 51, 70, "redirect", fresh.link, None)]
    assert index.due_rechecks(0, 10_000, 10, every=True) == []  # confirmed takedowns are never rechecked


def test_atomic_nests_and_rolls_back(index: Any) -> None:
    with index.atomic():
        index.set_meta("outer", "1")
        with pytest.raises(RuntimeError), index.atomic():
            index.set_meta("inner", "1")
            raise RuntimeError
        with index.atomic():
            index.set_meta("kept", "1")
    assert (index.meta("outer"), index.meta("inner"), index.meta("kept")) == ("1", None, "1")
    with pytest.raises(RuntimeError), index.atomic():
        index.set_meta("gone", "1")
        with index.atomic():
            index.set_meta("gone too", "1")
        raise RuntimeError
    assert index.meta("gone") is None and index.meta("gone too") is None


def test_read_only_reads_and_never_writes(backend: Any) -> None:
    empty = backend(read_only=True)
    assert list(empty.articles()) == [] and empty.counts() == {} and empty.meta("x") is None
    empty.close()
    writer = backend()
    a = added(writer, article(1_048_575))
    writer.check_readable()
    reader = backend(read_only=True)
    assert reader.article_at(a.path) == a
    reader.check_readable()
    with pytest.raises(StorageError):
        reader.set_meta("x", "1")
    assert writer.meta("x") is None


def test_a_schema_newer_than_the_code_is_refused(backend: Any, request: pytest.FixtureRequest) -> None:
    index = backend()
    if isinstance(index, Index):
        index.set_meta("schema", "99")
    else:
        index._run("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')")
    for read_only in (False, True):
        with pytest.raises(ArchiveError, match="newer than this newsarchive knows") as raised:
            backend(read_only=read_only)
        assert "upgrade newsarchive" in raised.value.hint


def test_the_workers_reader_leaves_damaged_articles_out_and_travels_to_a_process(backend: Any) -> None:
    index = backend()
    reader = pickle.loads(pickle.dumps(index.reader()))
    assert reader.stored(["link:rfi:a"]) == {} and reader.stored([]) == {}
    a = added(index, article(1_048_575, body_length=9), "link:rfi:a")
    added(index, article(1_048_574), "link:rfi:b")
    index.save_summaries([Summary(keys=("link:rfi:a",), text="s", fingerprint="sf", page=True, tries=1)])
    stored = reader.stored(["link:rfi:a", "link:rfi:b", "nothing"])
    assert set(stored) == {"link:rfi:a", "link:rfi:b"}
    assert stored["link:rfi:a"] == StoredVersion(
        fingerprint="fp1048575", body_length=9, origin=a.origin, summary_fingerprint="sf", page=True, tries=1
    )
    assert stored["link:rfi:b"].summary_fingerprint is None and not stored["link:rfi:b"].page
    index.set_damaged({a.path: "empty"}, 1)
    assert set(reader.stored(["link:rfi:a", "link:rfi:b"])) == {"link:rfi:b"}


def test_a_statement_is_never_reset_from_another_thread(tmp_path: Path) -> None:
    """A thread that holds other threads' frames for a moment (as a sampling profiler does, with
    ``sys._current_frames``) frees the cursors left in them: a cursor freed there reset its statement while the
    writing thread ran the same cached statement again, and SQLite refused it as misuse, failing an outlet's store."""
    import sys
    import threading
    import time

    index = Index(tmp_path / "index.sqlite")
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            frames = sys._current_frames()
            time.sleep(0.0005)
            del frames  # the last reference to frames that returned meanwhile: their locals die here

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with index.atomic():
            for n in range(1, 1501):
                index.add_article(article(n), (f"key-{n}", f"link-{n}"))
    finally:
        done.set()
        sampler.join()
    assert len(list(index.articles("rfi"))) == 1500
