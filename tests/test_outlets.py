"""Managing outlets as feed readers do: `add` (finding the feed on a page), `remove`, `opml import` and `opml export`,
all over a loopback server and through the real command line."""

from __future__ import annotations

import json
import multiprocessing
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from newsarchive.outlets import add_source, feed_links, parse_opml, propose_slug

from .conftest import FeedServer, item, rss
from .test_cli import explain, run

# As Miniflux 2 writes its export: categories as outlines holding the feeds' outlines.
MINIFLUX_OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
    <head>
        <title>Miniflux</title>
        <dateCreated>Sun, 06 Dec 2026 10:00:00 UTC</dateCreated>
    </head>
    <body>
        <outline text="新闻">
            <outline title="甲报" text="甲报" xmlUrl="{a}" htmlUrl="https://a.invalid/" description=""></outline>
            <outline title="乙台" text="乙台" xmlUrl="{b}" htmlUrl="https://b.invalid/" description=""></outline>
        </outline>
        <outline text="Tech">
            <outline title="Same as 甲报" text="Same as 甲报" xmlUrl="{a}/" htmlUrl="https://a.invalid/"></outline>
            <outline title="Gopher" text="Gopher" xmlUrl="gopher://old.invalid/feed"></outline>
        </outline>
        <outline text="Top level" xmlUrl="{c}"/>
    </body>
</opml>
"""


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    result = run("init", root)
    assert result.returncode == 0, explain(result)
    return root


def config(root: Path) -> str:
    return (root / "newsarchive.toml").read_text(encoding="utf-8")


def slugs(root: Path) -> list[str]:
    return [table["slug"] for table in tomllib.loads(config(root))["sources"]]


@pytest.mark.parametrize(
    ("url", "taken", "title", "expected"),
    [
        ("https://rss.dw.com/rdf/rss-chi-all", [], "", "dw"),
        ("https://feeds.bbci.co.uk/zhongwen/simp/rss.xml", [], "", "bbci"),
        ("https://cn.nytimes.com/rss/", [], "", "nytimes"),
        ("https://www.rfi.fr/cn/rss", ["rfi"], "", "rfi-2"),
        ("https://www.rfi.fr/cn/rss", ["rfi", "rfi-2"], "", "rfi-3"),
        ("http://127.0.0.1:8080/feed.xml", [], "Daily News", "daily-news"),
        ("http://127.0.0.1:8080/feed.xml", [], "每日新闻", "outlet"),
        ("http://[::1]:8080/feed.xml", ["outlet"], "", "outlet-2"),
    ],
)
def test_proposed_slugs(url: str, taken: list[str], title: str, expected: str) -> None:
    assert propose_slug(url, taken, title) == expected


def test_feed_links_of_a_page() -> None:
    page = b"""<html><head>
        <link rel="stylesheet" href="/s.css">
        <link rel="alternate" type="application/rss+xml" title="RSS" href="/feed.xml">
        <link rel="alternate" type="application/atom+xml; charset=utf-8" href="https://a.invalid/atom">
        <link rel="alternate" type="text/html" hreflang="en" href="/en/">
        <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
        </head><body></body></html>"""
    assert feed_links(page, "http://127.0.0.1:1/news/") == ["http://127.0.0.1:1/feed.xml", "https://a.invalid/atom"]
    assert feed_links(b"", "http://127.0.0.1:1/") == []


def test_add_a_feed_keeps_the_comments(server: FeedServer, archive: Path) -> None:
    feed = server.add("/news.xml", rss(item(1), item(2)))
    before = config(archive)
    result = run("add", feed, "--archive", archive, "--slug", "local", "--json")
    assert result.returncode == 0, explain(result)
    assert json.loads(result.stdout) == {"slug": "local", "name": "测试", "feeds": [feed], "items": 2}
    after = config(archive)
    assert after.startswith(before), "the file is appended to: comments and the defaults stay as they were"
    assert slugs(archive)[-1] == "local"
    update = run("update", "--archive", archive, "--only", "local", "--json")
    assert update.returncode == 0, explain(update)
    assert json.loads(update.stdout)["sources"][0]["new"] == 2


@pytest.mark.parametrize("announced", [True, False])
def test_add_a_page_finds_its_feed(server: FeedServer, archive: Path, announced: bool) -> None:
    if announced:
        page = '<html><head><link rel="alternate" type="application/rss+xml" href="/data/zh.rss"></head><body>新闻</body></html>'
        feed = server.add("/data/zh.rss", rss(item(1)))
    else:  # no <link>: found at one of the usual paths
        page = "<html><head><title>新闻</title></head><body>新闻</body></html>"
        feed = server.add("/feed", rss(item(1)))
    page_url = server.add("/index.html", page, headers={"Content-Type": "text/html; charset=utf-8"})
    result = run("add", page_url, "--archive", archive, "--name", "本地台", "--json")
    assert result.returncode == 0, explain(result)
    added = json.loads(result.stdout)
    assert added["feeds"] == [feed]
    assert added["name"] == "本地台"
    assert added["slug"] == "outlet"  # a loopback host says nothing and the feed's title is not ASCII


def test_add_does_not_follow_a_page_to_loopback_elsewhere(server: FeedServer, archive: Path) -> None:
    inside = server.add("/internal.rss", rss(item(1)))
    elsewhere = inside.replace("127.0.0.1", "localhost")  # the machine itself, under another name than the page's
    page = f'<html><head><link rel="alternate" type="application/rss+xml" href="{elsewhere}"></head><body>新闻</body></html>'
    page_url = server.add("/index.html", page, headers={"Content-Type": "text/html; charset=utf-8"})
    before = config(archive)
    result = run("add", page_url, "--archive", archive)
    assert result.returncode == 1 and "no feed found" in result.stderr, explain(result)
    assert server.routes["/internal.rss"].hits == 0, "a page's link to a private address is not fetched"
    assert config(archive) == before


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("no feed anywhere", 1, "no feed found"),
        ("a feed an outlet has", 2, "already archives this feed"),
        ("a taken slug", 2, "slug 'rfi' exists already"),
        ("not http", 2, "not an http(s) address"),
        ("a server error", 1, "500"),
    ],
)
def test_add_refusals_leave_the_file_as_it_was(server: FeedServer, archive: Path, case: str, status: int, says: str) -> None:
    feed = server.add("/news.xml", rss(item(1)))
    first = run("add", feed, "--archive", archive, "--slug", "local")
    assert first.returncode == 0, explain(first)
    before = config(archive)
    args = {
        "no feed anywhere": [server.add("/page.html", "<html><body>nothing here</body></html>")],
        "a feed an outlet has": [feed.replace("/news.xml", "/news.xml/")],
        "a taken slug": [server.add("/other.xml", rss(item(2))), "--slug", "rfi"],
        "not http": ["ftp://127.0.0.1/feed.xml"],
        "a server error": [server.add("/broken.xml", "boom", status=500)],
    }[case]
    result = run("add", *args, "--archive", archive)
    assert result.returncode == status, explain(result)
    assert says in result.stderr, explain(result)
    assert "Traceback" not in result.stderr
    assert config(archive) == before


def test_remove_keeps_the_articles_unless_asked(server: FeedServer, archive: Path) -> None:
    feeds = {slug: server.add(f"/{slug}.xml", rss(item(n, title=f"{slug}独有标题{n}"))) for n, slug in enumerate(["one", "two"])}
    for slug, feed in feeds.items():
        assert run("add", feed, "--archive", archive, "--slug", slug, "--name", slug.upper()).returncode == 0
    assert run("update", "--archive", archive, "--only", "one,two").returncode == 0
    result = run("remove", "one", "--archive", archive)
    assert result.returncode == 0, explain(result)
    assert "one" not in slugs(archive)
    assert "two" in slugs(archive)
    assert any((archive / "articles" / "one").iterdir()), "the articles stay"
    assert "one独有标题" in run("search", "独有标题", "--archive", archive).stdout

    result = run("remove", "two", "--delete-files", "--archive", archive)
    assert result.returncode == 0, explain(result)
    assert not (archive / "articles" / "two").exists()
    assert not (archive / "lists" / "TWO.md").exists()
    found = run("search", "独有标题", "--archive", archive, "--json")
    assert [hit["path"].split("/")[1] for hit in json.loads(found.stdout)["hits"]] == ["one"]

    missing = run("remove", "nothing", "--archive", archive)
    assert missing.returncode == 2, explain(missing)
    assert "no outlet with slug 'nothing'" in missing.stderr


def test_delete_files_spares_another_outlets_folder_named_like_it(server: FeedServer, archive: Path) -> None:
    for n, (slug, name) in enumerate([("one", "壹"), ("two", "one")]):  # two's display name is one's slug
        feed = server.add(f"/{slug}.xml", rss(item(n, title=f"{slug}独有标题{n}")))
        assert run("add", feed, "--archive", archive, "--slug", slug, "--name", name).returncode == 0
    assert run("update", "--archive", archive, "--only", "one,two").returncode == 0
    result = run("remove", "two", "--delete-files", "--archive", archive)
    assert result.returncode == 0, explain(result)
    assert not (archive / "articles" / "two").exists()
    assert any((archive / "articles" / "one").iterdir()), "outlet one's articles are not two's to delete"
    assert (archive / "lists" / "壹.md").exists()


def test_opml_import_as_miniflux_writes_it(server: FeedServer, archive: Path, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1)))
    b, c = server.add("/b.xml", rss(item(2))), server.add("/c.xml", rss(item(3)))
    opml = tmp_path / "miniflux.opml"
    opml.write_text(MINIFLUX_OPML.format(a=a, b=b, c=c), encoding="utf-8")
    result = run("opml", "import", opml, "--archive", archive, "--json")
    assert result.returncode == 0, explain(result)
    report = json.loads(result.stdout)
    assert [(s["name"], s["feeds"]) for s in report["added"]] == [("甲报", [a]), ("乙台", [b]), ("Top level", [c])]
    assert report["duplicates"] == [{"feed": a + "/", "slug": "(earlier in this file)"}]
    assert report["refused"] == [{"feed": "gopher://old.invalid/feed", "reason": "not an http(s) address"}]
    assert len(slugs(archive)) == 9 + 3 and len(set(slugs(archive))) == 12

    again = run("opml", "import", opml, "--archive", archive)
    assert again.returncode == 0, explain(again)
    assert "0 outlets added, 4 feeds skipped as duplicates, 1 refused" in again.stderr


def test_opml_import_keeps_apart_a_slug_taken_in_another_case(server: FeedServer, archive: Path, tmp_path: Path) -> None:
    # articles/RFI and articles/rfi are one folder on Windows and macOS: the outlet gets a slug of its own instead
    feed = server.add("/a.xml", rss(item(1)))
    opml = tmp_path / "other.opml"
    opml.write_text(
        f'<opml version="2.0" xmlns:n="https://newsarchive.invalid/opml"><body>'
        f'<outline text="甲报" xmlUrl="{feed}" n:slug="RFI"/></body></opml>',
        encoding="utf-8",
    )
    result = run("opml", "import", opml, "--archive", archive, "--json")
    assert result.returncode == 0, explain(result)
    [added] = json.loads(result.stdout)["added"]
    assert added["slug"].casefold() != "rfi" and added["slug"] in slugs(archive)


def test_opml_export_imports_back_unchanged(server: FeedServer, archive: Path, tmp_path: Path) -> None:
    server.add("/a.xml", rss(item(1)))
    assert run("add", server.base + "/a.xml", "--archive", archive, "--slug", "local", "--name", "本地").returncode == 0
    exported = tmp_path / "out.opml"
    result = run("opml", "export", "-o", exported, "--archive", archive)
    assert result.returncode == 0, explain(result)
    stdout = run("opml", "export", "--archive", archive)
    assert stdout.stdout.encode() == exported.read_bytes()
    feeds = parse_opml(exported.read_bytes(), "out.opml")
    assert len(feeds) == 16  # every feed of the eight enabled default outlets, and the new one
    before = config(archive)
    same = run("opml", "import", exported, "--archive", archive, "--json")
    assert json.loads(same.stdout)["added"] == []
    assert config(archive) == before

    other = tmp_path / "other"
    assert run("init", other).returncode == 0
    (other / "newsarchive.toml").write_text("[archive]\ntitle = 'x'\n\n[[sources]]\nname = 'x'\nslug = 'x'\nfeeds = []\n")
    moved = run("opml", "import", exported, "--archive", other)
    assert moved.returncode == 0, explain(moved)
    tables = {table["slug"]: table for table in tomllib.loads(config(other))["sources"]}
    original = {table["slug"]: table for table in tomllib.loads(before)["sources"] if table.get("enabled", True)}
    assert {slug: tables[slug] for slug in original} == original, "name, slug, feeds and full-text settings come back"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not xml at all", "not an OPML file"),
        (b"<?xml version='1.0'?><rss><channel/></rss>", "its root is <rss>"),
        (b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><opml><body><outline xmlUrl='&e;'/></body></opml>", "OPML"),
    ],
)
def test_opml_import_refuses_what_is_not_opml(archive: Path, tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "bad.opml"
    path.write_bytes(content)
    before = config(archive)
    result = run("opml", "import", path, "--archive", archive)
    assert result.returncode in (0, 2), explain(result)
    assert "Traceback" not in result.stderr
    assert "passwd" not in config(archive)
    if result.returncode == 2:
        assert says in result.stderr, explain(result)
        assert config(archive) == before


def _add_many(root: str, first: int, count: int, start: Any) -> None:  # in a process of its own
    start.wait(30)  # all at once, imports done
    for n in range(first, first + count):
        add_source(Path(root), feeds=[f"https://feeds{n}.example.invalid/rss"], name=f"报{n}", slug=f"o{n}")


def test_edits_at_once_from_several_processes_lose_none(archive: Path) -> None:
    """Each edit reads, changes and replaces newsarchive.toml: they take turns, or two at once would keep one."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    editors = [context.Process(target=_add_many, args=(str(archive), 10 * n, 10, start)) for n in range(4)]
    for editor in editors:
        editor.start()
    time.sleep(1)
    start.set()
    for editor in editors:
        editor.join(60)
    assert [editor.exitcode for editor in editors] == [0] * 4
    slugs = {source["slug"] for source in tomllib.loads((archive / "newsarchive.toml").read_text(encoding="utf-8"))["sources"]}
    assert {f"o{n}" for n in range(40)} <= slugs
