"""`newsarchive migrate`: an archive's index from SQLite to PostgreSQL and back, every table equal, the files untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from newsarchive.errors import ConfigError
from newsarchive.index.captures import CaptureRow
from newsarchive.index.images import MediaRow
from newsarchive.index.summaries import Summary
from newsarchive.pipeline import update
from newsarchive.sources import Source
from newsarchive.store.atomic import ArchiveLock
from newsarchive.store.layout import INDEX_FILE, LOCK_FILE

from .conftest import FeedServer, item, rss, snapshot
from .test_pipeline import make_archive

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]' installs it")

from newsarchive.index.postgres import PostgresIndex
from newsarchive.index.postgres.index import TABLES
from newsarchive.migrate import migrate_index


def _sorting(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is not None, value if value is not None else 0) for value in row)


def tables(index: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in one order whatever the backend (meta's SQLite-only schema row aside)."""
    dumped = {}
    for table in TABLES:
        if isinstance(index, PostgresIndex):
            rows = [tuple(row) for row in index.table_rows(table, index.columns(table))]
        else:
            rows = [tuple(row) for row in index.db.execute(f"SELECT * FROM {table}")]
        dumped[table] = sorted((row for row in rows if not (table == "meta" and row[0] == "schema")), key=_sorting)
    return dumped


@pytest.fixture
def archive_root(server: FeedServer, tmp_path: Path) -> Path:
    """An archive with a row in every table of its index: two updates (a revision), then the rest by hand."""
    root = tmp_path / "archive"
    a = server.add("/a.xml", rss(item(1), item(2), item(3)))
    archive = make_archive(root, Source(name="甲", slug="a", feeds=(a,)))
    update(archive)
    server.add("/a.xml", rss(item(1, body="<p>更正后的正文。</p>"), item(2), item(3)))
    update(archive)
    index = archive.index
    first, second, *_ = index.articles("a")
    with index.atomic():
        (key,) = index.db.execute("SELECT key FROM article_keys WHERE article = ? LIMIT 1", (first.rowid,)).fetchone()
        index.save_summaries([Summary(keys=(key,), text="摘要", fingerprint="s", page=True)])
        index.set_article_images(first.rowid, ["https://i.example.org/1.png", "https://i.example.org/2.png"])
        index.save_media(MediaRow("https://i.example.org/1.png", "cd" * 32, "png", 10, "ok", 0, None, None))
        index.save_recheck(first.rowid, 5, 1, "unchanged", "h")
        index.save_takedown(second.rowid, 1, 2, "404", str(second.link), None)
        index.set_damaged({second.path: "empty"}, 3)
        index.journal_add(["list:a"])
        capture = index.captures_of(a)[0]
        index.add_capture(CaptureRow(**{**capture.__dict__, "offset": 10**9, "original_file": capture.file, "original_offset": 0}))
    empty = [table for table, rows in tables(index).items() if not rows]
    assert empty == [], f"the test archive has no rows in {empty}"
    archive.close()
    return root


def test_an_index_goes_to_postgresql_and_back_with_every_table_equal(archive_root: Path, pg_url: str) -> None:
    from newsarchive.index.db import Index

    files = snapshot(archive_root)
    sqlite = Index(archive_root / INDEX_FILE)
    before = tables(sqlite)
    sqlite.close()
    report = migrate_index(archive_root, None, pg_url)
    assert report.rows == {table: len(rows) for table, rows in before.items()}
    postgres = PostgresIndex(pg_url)
    assert tables(postgres) == before
    newest = max(row[0] for row in before["articles"])
    article = postgres.article_by_rowid(newest)
    assert article is not None and postgres.add_article(article.__class__(**{**article.__dict__, "path": "articles/a/1.md"}), []) > newest
    postgres.remove_article("articles/a/1.md")
    postgres.close()

    with pytest.raises(ConfigError, match="already holds an index"):  # the SQLite index is still there
        migrate_index(archive_root, pg_url, "sqlite")
    (archive_root / INDEX_FILE).unlink()
    migrate_index(archive_root, pg_url, "sqlite")
    back = Index(archive_root / INDEX_FILE)
    assert tables(back) == before
    back.close()
    assert snapshot(archive_root) == files  # the files never move


def test_a_target_that_holds_an_index_is_refused_unless_replaced(archive_root: Path, pg_url: str) -> None:
    migrate_index(archive_root, None, pg_url)
    with pytest.raises(ConfigError, match="already holds an index") as refused:
        migrate_index(archive_root, None, pg_url)
    assert "--replace" in refused.value.hint
    report = migrate_index(archive_root, None, pg_url, replace=True)
    assert report.rows["articles"] == 3


@pytest.mark.parametrize(
    ("database", "to", "said"),
    [
        (None, "mysql://u:hunter2@db/news", "--to must be sqlite"),
        (None, "sqlite", "in SQLite already"),
        ("postgresql://u:hunter2@db.invalid/news", "postgres://u:other@db.invalid/news", "already"),
    ],
)
def test_a_move_to_nowhere_new_is_a_config_error(tmp_path: Path, database: str | None, to: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said) as refused:
        migrate_index(tmp_path, database, to)
    assert "hunter2" not in str(refused.value)


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsarchive", "migrate", "-a", str(root), *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_the_command_its_exit_statuses_and_its_one_line_errors(archive_root: Path, pg_url: str, pg_cluster: Any) -> None:
    done = _cli(archive_root, "--to", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    assert '"articles": 3' in done.stdout
    refused = [
        (["--to", "sqlite"], {"NEWSARCHIVE_DATABASE": pg_url}, 2, "already holds an index"),
        (["--to", pg_cluster.url("postgres", tcp=True, password="hunter2")], {}, 1, "cannot log in"),
    ]
    for args, env, status, said in refused:
        done = _cli(archive_root, *args, env=env)
        assert (done.returncode, done.stdout) == (status, ""), done.stderr
        assert said in done.stderr and "Traceback" not in done.stderr and "hunter2" not in done.stderr, done.stderr
    with ArchiveLock(archive_root / LOCK_FILE):
        done = _cli(archive_root, "--to", pg_url, "--replace")
    assert done.returncode == 3 and "locked" in done.stderr
    done = _cli(archive_root, "--to", pg_url, "--replace")
    assert done.returncode == 0 and "next: set NEWSARCHIVE_DATABASE" in done.stderr
