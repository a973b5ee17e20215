"""``export``: one record per article version, over an archive the real pipeline built from loopback feeds."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsarchive.archive import Archive
from newsarchive.export import FIELDS
from newsarchive.html import link_urls, plain_text
from newsarchive.sources import Source

from .conftest import FeedServer, item, rss

# Links of every kind the body may hold: relative, absolute (twice), protocol-relative, in-page and not web at all.
LINKED_BODY = (
    '<p>见<a href="/zh/related">相关报道</a>与<a href="https://other.example.org/x?a=1&amp;b=2">外链</a>、'
    '<a href="#top">顶部</a>、<a href="javascript:void(0)">脚本</a>、<a href="mailto:desk@example.org">来信</a>、'
    '<a href="//cdn.example.org/y">协议相对</a>、<a href="https://other.example.org/x?a=1&amp;b=2">再次</a>。</p>'
    '<img src="/img/1.jpg" alt="图"><img src="https://img.example.org/pixel.png" width="1" height="1">'
)
FIRST, SECOND = "articles/a/1048574.md", "articles/a/1048573.md"


def run(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "newsarchive", *map(str, args)], capture_output=True, env=env, timeout=60)


def explain(result: subprocess.CompletedProcess[bytes]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout[:2000]!r}\nstderr:\n{result.stderr.decode()}"


@pytest.fixture
def archive(server: FeedServer, tmp_path: Path) -> Iterator[Archive]:
    """Two outlets: 甲台 (a) with two articles, the second edited between two updates, and 乙台 (b) with one
    published later in June."""
    a = server.add("/a.xml", rss(item(1, body=LINKED_BODY), item(2, body="<p>第2条的初稿。</p>")))
    b = server.add("/b.xml", rss(item(10, day=20)))
    outlets = (Source(name="甲台", slug="a", feeds=(a,)), Source(name="乙台", slug="b", feeds=(b,)))
    opened = Archive.init(tmp_path / "archive", sources=outlets)
    assert not opened.update().failed
    server.add("/a.xml", rss(item(1, body=LINKED_BODY), item(2, body="<p>第2条的<b>更正稿</b>。</p>")))
    assert opened.update().updated == 1
    with opened:
        yield opened


def export_jsonl(archive: Archive, **options: Any) -> list[dict[str, Any]]:
    stream = io.BytesIO()
    archive.export(stream, **options)
    return [json.loads(line) for line in stream.getvalue().decode("utf-8").splitlines()]


def test_one_record_per_version_in_index_order_with_every_field(archive: Archive) -> None:
    records = export_jsonl(archive)
    assert all(tuple(record) == FIELDS for record in records)
    # outlet, then file id (newest first); an article's earlier versions, oldest first, before its current one
    row = archive.index.article_at(SECOND)
    assert row is not None
    ((revision, _, revision_seen),) = archive.index.revisions(row.rowid)
    assert [(r["path"], r["version"]) for r in records] == [
        (SECOND, revision),
        (SECOND, "current"),
        (FIRST, "current"),
        ("articles/b/1048574.md", "current"),
    ]
    old, new, linked, other = records
    assert (old["source"], old["outlet"], other["source"], other["outlet"]) == ("a", "甲台", "b", "乙台")
    assert old["html"] == "<p>第2条的初稿。</p>" and new["html"] == "<p>第2条的<b>更正稿</b>。</p>"
    assert (old["text"], new["text"]) == ("第2条的初稿。", "第2条的更正稿。")
    assert old["seen_ms"] == revision_seen and new["seen_ms"] == row.updated_ms and revision_seen < row.updated_ms
    assert new["pub_ms"] == row.pub_ms and new["published_at"] == "2026-06-01T02:02:00Z"
    assert (new["title"], new["link"], new["takedown"]) == ("第2条新闻标题", "https://news.example.org/zh/2", None)
    assert new["seen_at"].endswith("Z") and new["links"] == [] and new["images"] == []
    assert linked["html"] == (archive.root / FIRST).read_text(encoding="utf-8").split("\n", 4)[4].removesuffix("\n")
    assert linked["text"] == plain_text(LINKED_BODY)
    assert linked["links"] == ["https://news.example.org/zh/related", "https://other.example.org/x?a=1&b=2", "https://cdn.example.org/y"]
    assert linked["images"] == ["https://news.example.org/img/1.jpg"]  # the 1x1 pixel is no image


def test_links_are_absolute_web_addresses_only() -> None:
    body = '<a href=" ./b?x=1 ">b</a><a href="ftp://example.org/f">f</a><a>none</a><a href="http://[bad">bad</a>'
    assert link_urls(body, "https://news.example.org/zh/a/") == ["https://news.example.org/zh/a/b?x=1"]
    assert link_urls(body + '<a href="https://example.org/">ok</a>', None) == ["https://example.org/"]
    assert link_urls("<p>沒有連結\x00\x1f</p>", None) == []


def test_source_and_since_filters(archive: Archive) -> None:
    assert [r["path"] for r in export_jsonl(archive, source="b")] == ["articles/b/1048574.md"]
    assert [r["version"] for r in export_jsonl(archive, source="a")][1:] == ["current", "current"]
    from newsarchive.web.pages import day_ms

    assert [r["path"] for r in export_jsonl(archive, since_ms=day_ms("2026-06-10"))] == ["articles/b/1048574.md"]
    assert len(export_jsonl(archive, since_ms=day_ms("2026-06-01"))) == 4  # midnight in Beijing, before every article
    assert export_jsonl(archive, source="a", since_ms=day_ms("2026-06-10")) == []


def test_parquet_reads_back_as_the_same_records(archive: Archive, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    report = archive.export(tmp_path / "out.parquet", format="parquet")
    assert (report.records, report.articles, report.skipped, report.output) == (4, 3, 0, str(tmp_path / "out.parquet"))
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == list(FIELDS)
    assert str(table.schema.field("published_at").type) == "timestamp[ms, tz=UTC]"
    assert str(table.schema.field("links").type) == "list<element: string>"
    rows = table.to_pylist()
    for row, record in zip(rows, export_jsonl(archive), strict=True):
        assert row["published_at"].strftime("%Y-%m-%dT%H:%M:%SZ") == record["published_at"]
        assert row["seen_at"].strftime("%Y-%m-%dT%H:%M:%SZ") == record["seen_at"]
        assert {k: v for k, v in row.items() if not k.endswith("_at")} == {k: v for k, v in record.items() if not k.endswith("_at")}


def test_unreadable_files_are_skipped_with_a_warning_and_exit_status_1(archive: Archive, tmp_path: Path) -> None:
    (archive.root / FIRST).write_bytes(b"<!--1-->\nno title line\n------\n\n<p>x</p>\n")
    row = archive.index.article_at(SECOND)
    assert row is not None
    revision = archive.index.revisions(row.rowid)[0][0]
    (archive.root / revision).unlink()
    result = run("export", "--archive", archive.root, "--output", tmp_path / "out.jsonl")
    assert result.returncode == 1, explain(result)
    stderr = result.stderr.decode()
    assert f"warning: {FIRST}: line 2: expected [title](link)" in stderr and f"warning: {revision}: No such file" in stderr, stderr
    assert "exported 2 versions of 3 articles" in stderr and "2 files skipped" in stderr
    lines = (tmp_path / "out.jsonl").read_bytes().decode("utf-8").splitlines()
    assert [(json.loads(line)["path"], json.loads(line)["version"]) for line in lines] == [
        (SECOND, "current"),
        ("articles/b/1048574.md", "current"),
    ]


def test_stdout_and_output_file_carry_the_same_bytes(archive: Archive, tmp_path: Path) -> None:
    to_stdout = run("export", "--archive", archive.root, "--source", "a")
    assert to_stdout.returncode == 0, explain(to_stdout)
    assert to_stdout.stdout.decode("utf-8").count("\n") == 3 and "甲台" in to_stdout.stdout.decode("utf-8")  # UTF-8, not \u escapes
    target = tmp_path / "out" / "a.jsonl"
    target.parent.mkdir()
    target.write_text("an older export\n")
    to_file = run("export", "--archive", archive.root, "--source", "a", "-o", target)
    assert to_file.returncode == 0, explain(to_file)
    assert to_file.stdout == b"" and "exported 3 versions of 2 articles to" in to_file.stderr.decode()
    assert target.read_bytes() == to_stdout.stdout
    assert os.listdir(target.parent) == ["a.jsonl"]  # the temporary file was renamed over it


def test_parquet_through_a_pipe_and_usage_errors(archive: Archive, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    piped = run("export", "--archive", archive.root, "--format", "parquet")
    assert piped.returncode == 0, explain(piped)
    assert pq.read_table(io.BytesIO(piped.stdout)).num_rows == 4
    cases = {
        ("--format", "csv"): "--format csv: unknown export format",
        ("--source", "zz"): "--source zz: no such outlet",
        ("--since", "June"): "'June' is not a date like",
        ("--output", tmp_path / "missing" / "out.jsonl"): "cannot write the export",
    }
    for args, message in cases.items():
        result = run("export", "--archive", archive.root, *args)
        assert result.returncode == 2 and message in result.stderr.decode(), explain(result)
        assert result.stdout == b""


def test_parquet_without_pyarrow_says_what_to_install(archive: Archive, tmp_path: Path) -> None:
    script = "import sys; sys.modules['pyarrow'] = None; from newsarchive.__main__ import main; main()"
    argv = ["export", "--archive", str(archive.root), "--format", "parquet", "--output", str(tmp_path / "out.parquet")]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, env=env, timeout=60)
    assert result.returncode == 2, explain(result)
    assert "needs pyarrow" in result.stderr.decode() and "pip install 'newsarchive[parquet]'" in result.stderr.decode()
    assert not (tmp_path / "out.parquet").exists()
