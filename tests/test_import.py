"""import and reindex: existing duty-machine archives in, byte for byte, malformed files reported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from newsarchive.archive import Archive
from newsarchive.config import Settings
from newsarchive.pipeline import update
from newsarchive.sources import DEFAULT_SOURCES, Source

from .conftest import FeedServer, item, rss, shared, snapshot

pytestmark = pytest.mark.usefixtures("index_backend")  # every test on SQLite and on PostgreSQL


def write_article(root: Path, relative: str, pub_ms: int | str, title: str, link: str, body: str = "<p>正文</p>") -> None:
    path = root / "articles" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!--{pub_ms}-->\n[{title}]({link})\n------\n\n{body}\n", encoding="utf-8")


def small_archive(root: Path) -> None:
    write_article(root, "法广/1042134_早期 标题.md", 1602492950000, "早期 标题", "http://www.rfi.fr//cn/a")
    write_article(root, "rfi/1040000.md", 1605549367000, "后来的标题", "https://www.rfi.fr/cn/b")
    write_article(root, "dw/1045000.md", 1608188041000, "德国之声文章", "https://www.dw.com/zh/x/a-1")
    write_article(root, "rfi/1039999.md", "NaN", "没有日期", "https://www.rfi.fr/cn/c")


def test_import_copies_byte_for_byte_and_maps_early_folders(tmp_path: Path) -> None:
    source = tmp_path / "old"
    small_archive(source)
    archive = Archive.init(tmp_path / "new")
    report = archive.import_from(source)
    assert (report.files, report.imported, report.errors) == (4, 4, ())
    copied = snapshot(archive.root)
    for relative, data in snapshot(source).items():
        assert copied[relative] == data
    assert {row.path: row.source for row in archive.articles()} == {
        "articles/法广/1042134_早期 标题.md": "rfi",
        "articles/rfi/1040000.md": "rfi",
        "articles/rfi/1039999.md": "rfi",
        "articles/dw/1045000.md": "dw",
    }
    rfi_list = (archive.root / "lists/法广.md").read_text()
    assert rfi_list.split("\n")[3:8:2] == [
        "[没有日期](/articles/rfi/1039999.md)",
        "11-17 [后来的标题](/articles/rfi/1040000.md)",
        "10-12 [早期 标题](/articles/法广/1042134_早期%20标题.md)",
    ]
    again = archive.import_from(source)
    assert (again.imported, again.unchanged, again.duplicates) == (4, 4, 0)
    assert snapshot(archive.root) == copied


def test_update_after_import_continues_ids_and_deduplicates(server: FeedServer, tmp_path: Path) -> None:
    source = tmp_path / "old"
    small_archive(source)
    archive = Archive.init(tmp_path / "new")
    archive.import_from(source)
    known = dict(item(1))
    known["link"] = "https://www.rfi.fr/cn/b?utm_source=feed"  # the imported 后来的标题, spelled differently
    known["title"] = "后来的标题"
    known["description"] = "<![CDATA[<p>正文</p>]]>"
    url = server.add("/rfi.xml", rss(known, item(2)))
    archive.settings = Settings(sources=(Source(name="法广", slug="rfi", feeds=(url,)),))
    report = update(archive)
    assert (report.sources[0].new, report.sources[0].unchanged) == (1, 1)
    assert (archive.root / "articles/rfi/1039998.md").exists()


def test_malformed_files_are_reported_with_path_and_reason_and_skipped(tmp_path: Path) -> None:
    source = tmp_path / "old"
    small_archive(source)
    (source / "articles/rfi/1030000.md").write_text("<!--123-->\nno title line\n------\n\nbody\n")
    (source / "articles/rfi/1030001.md").write_bytes("<!--1-->\n[标题](https://e.example.org/)\n------\n\n正文\n".encode("gbk"))
    (source / "articles/rfi/notes.md").write_text("just notes\n")
    archive = Archive.init(tmp_path / "new")
    report = archive.import_from(source)
    assert report.imported == 4 and len(report.errors) == 3
    joined = "\n".join(report.errors)
    assert "1030000.md:2: expected [title](link)" in joined
    assert "1030001.md:1: not UTF-8" in joined
    assert "notes.md: file name has no article id" in joined
    assert not (archive.root / "articles/rfi/1030000.md").exists()


def test_reindex_rebuilds_the_same_index_from_files_alone(server: FeedServer, tmp_path: Path) -> None:
    url = server.add("/a.xml", rss(item(1), item(2)))
    archive = Archive.init(tmp_path)
    archive.settings = Settings(sources=(Source(name="甲", slug="a", feeds=(url,)),))
    update(archive)
    server.add("/a.xml", rss(item(1, body="<p>改过</p>"), item(2)))
    update(archive)
    before = [(r.source, r.file_id, r.path, r.title, r.link, r.pub_ms, r.fingerprint) for r in archive.articles()]
    row = archive.index.article_at("articles/a/1048574.md")
    assert row is not None
    revisions_before = archive.index.revisions(row.rowid)
    archive.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path}/.newsarchive/index.sqlite{suffix}").unlink(missing_ok=True)
    rebuilt = Archive.open(tmp_path, settings=archive.settings)
    report = rebuilt.reindex()
    assert report.imported == 2 and not report.errors
    assert [(r.source, r.file_id, r.path, r.title, r.link, r.pub_ms, r.fingerprint) for r in rebuilt.articles()] == before
    row = rebuilt.index.article_at("articles/a/1048574.md")
    assert row is not None and rebuilt.index.revisions(row.rowid) == revisions_before
    files = snapshot(tmp_path)
    assert update(rebuilt).sources[0].unchanged == 2
    assert snapshot(tmp_path) == files


def test_import_of_the_real_corpus(tmp_path: Path) -> None:
    corpus = shared("corpus", "duty-machine-news")
    source = tmp_path / "corpus"
    shutil.copytree(corpus / "articles", source / "articles")
    archive = Archive.init(tmp_path / "archive")
    report = archive.import_from(source)
    expected = sum(1 for _ in (corpus / "articles").rglob("*.md"))
    assert (report.imported, report.errors) == (expected, ())
    slugs = {row.source for row in archive.articles()}
    assert slugs == {s.slug for s in DEFAULT_SOURCES}
    copied = snapshot(archive.root)
    for path in (corpus / "articles").rglob("*.md"):
        assert copied[str(path.relative_to(corpus))] == path.read_bytes()


def test_import_in_place_indexes_without_copying(tmp_path: Path) -> None:
    small_archive(tmp_path)
    archive = Archive.init(tmp_path)
    mtimes = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "articles").rglob("*.md")}
    report = archive.import_from(tmp_path)
    assert report.imported == 4
    assert {p: os.stat(p).st_mtime_ns for p in (tmp_path / "articles").rglob("*.md")} == mtimes


def test_file_names_that_are_not_utf8_are_reported_not_fatal(tmp_path: Path) -> None:
    source = tmp_path / "old"
    small_archive(source)
    bad_name = os.fsencode(source / "articles" / "rfi") + b"/1030000_" + "标题".encode("gbk") + b".md"
    with open(bad_name, "wb") as handle:
        handle.write("<!--1-->\n[标题](https://e.example.org/)\n------\n\n正文\n".encode())
    archive = Archive.init(tmp_path / "new")
    report = archive.import_from(source)
    assert report.imported == 4 and len(report.errors) == 1 and "not UTF-8" in report.errors[0]
    assert not list((archive.root / ".newsarchive").glob("incoming/*"))


def test_reindex_replaces_an_index_that_no_longer_opens(tmp_path: Path) -> None:
    small_archive(tmp_path)
    Archive.init(tmp_path).close()
    (tmp_path / ".newsarchive" / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with Archive.open(tmp_path) as archive:
        report = archive.reindex()
        assert report.imported == 4
        assert len(list(archive.articles())) == 4


def test_import_and_reindex_take_the_lock(tmp_path: Path) -> None:
    import pytest

    from newsarchive.errors import ArchiveLockedError

    small_archive(tmp_path / "old")
    with Archive.init(tmp_path / "new") as archive, archive.lock():
        with pytest.raises(ArchiveLockedError):
            archive.import_from(tmp_path / "old")
        with pytest.raises(ArchiveLockedError):
            archive.reindex()
