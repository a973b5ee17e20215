"""What only the PostgreSQL index has: its address in the settings, its migrations, its failures as one line naming the
database without its password, carrying an old index over between schemas, and psycopg only when asked for."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from newsarchive.config import database_address, load_settings
from newsarchive.errors import ArchiveError, ConfigError, StorageError
from newsarchive.index.rows import ArticleRow

from .pg import PASSWORD, Cluster, Unavailable
from .test_index_backends import added, article

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]' installs it")

from newsarchive.index.postgres import MIGRATIONS, DatabaseServerError, PostgresIndex  # noqa: E402
from newsarchive.index.postgres.migrations import migrate  # noqa: E402

# settings -----------------------------------------------------------------------------------


def test_the_database_comes_from_the_file_or_the_environment_which_wins(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).cluster.database is None
    (tmp_path / "newsarchive.toml").write_text('[cluster]\ndatabase = "postgresql://a@db.example/news"\n', encoding="utf-8")
    assert load_settings(tmp_path, env={}).cluster.database == "postgresql://a@db.example/news"
    assert load_settings(tmp_path, env={"NEWSARCHIVE_DATABASE": "postgres://b@/n"}).cluster.database == "postgres://b@/n"
    assert load_settings(tmp_path, env={"NEWSARCHIVE_DATABASE": ""}).cluster.database is None  # empty: SQLite


@pytest.mark.parametrize(
    ("toml", "env", "blamed"),
    [
        ('[cluster]\ndatabase = "mysql://u:hunter2@db/news"\n', {}, "cluster.database"),
        ('[cluster]\ndatabase = "db.example/news"\n', {}, "cluster.database"),
        ("[cluster]\ndatabase = 5432\n", {}, "cluster.database"),
        ('[cluster]\naddress = "postgresql:///news"\n', {}, "unknown setting cluster.address"),
        ("", {"NEWSARCHIVE_DATABASE": "sqlite:///x:hunter2@"}, "NEWSARCHIVE_DATABASE"),
        ('[cluster]\ndatabase = "postgresql:///fine"\n', {"NEWSARCHIVE_DATABASE": "http://u:hunter2@x/"}, "NEWSARCHIVE_DATABASE"),
    ],
)
def test_a_bad_database_address_is_a_config_error_naming_where_it_came_from(
    tmp_path: Path, toml: str, env: dict[str, str], blamed: str
) -> None:
    (tmp_path / "newsarchive.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path, env=env)
    assert blamed in str(raised.value) and "hunter2" not in str(raised.value)


def test_an_address_is_shown_without_its_password() -> None:
    assert database_address("postgresql://u:p%40ss@h:5/db?sslmode=require&password=x") == "postgresql://u@h:5/db?sslmode=require"
    assert database_address("postgresql:///db?host=/run/pg") == "postgresql:///db?host=/run/pg"


# psycopg only when asked for ----------------------------------------------------------------


def test_the_embedded_index_never_imports_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from newsarchive.cli import app; from newsarchive.archive import Archive\n"
        f"from newsarchive.config import load_settings; a = Archive(Path({str(tmp_path)!r}), load_settings(None))\n"
        "a.index.counts(); a.close(); assert 'psycopg' not in sys.modules, 'psycopg imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_without_psycopg_asking_for_postgresql_is_one_config_error() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from newsarchive.errors import ConfigError\n"
        "try:\n    import newsarchive.index.postgres\nexcept ConfigError as exc:\n    print(exc); print(exc.hint)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    message, hint = done.stdout.splitlines()
    assert "psycopg is not installed" in message and "newsarchive[postgresql]" in hint


# failures -----------------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


BAD = {
    "server down": (lambda c: f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/news", "cannot connect", "pg_isready"),
    "no such database": (lambda c: c.url("no_such_db"), "no such database", "createdb"),
    "wrong password": (lambda c: c.url("postgres", tcp=True, password="hunter2"), "cannot log in", "password"),
    "no password": (lambda c: c.url("postgres", tcp=True).replace(f":{PASSWORD}@", "@"), "cannot log in", "password"),
    "unknown user": (lambda c: c.url("postgres").replace("postgres@", "nobody_here@"), "no such database or user", "createdb"),
    "an address libpq cannot read": (lambda c: "postgresql://u:hunter2@[::1/db", "not a usable PostgreSQL address", "postgresql://"),
    "an unknown option": (lambda c: "postgresql://u:hunter2@h/db?colour=blue", "not a usable PostgreSQL address", "postgresql://"),
}


@pytest.mark.parametrize("situation", BAD)
def test_each_failure_to_open_is_one_line_naming_the_database_without_its_password(
    pg_cluster: Cluster, situation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    make_url, reason, hint = BAD[situation]
    url = make_url(pg_cluster)
    with pytest.raises(DatabaseServerError) as raised:
        PostgresIndex(url)
    error = raised.value
    assert isinstance(error, StorageError)
    assert "\n" not in str(error) and str(error).startswith(database_address(url)) and reason in str(error)
    assert PASSWORD not in str(error) and "hunter2" not in str(error)
    assert hint in error.hint


def test_a_server_that_goes_away_is_the_same_one_line() -> None:
    cluster = Cluster()
    try:
        cluster.start()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        index = PostgresIndex(cluster.url())
        assert index.count("rfi") == 0
    finally:
        cluster.stop()
    with pytest.raises(DatabaseServerError) as raised:
        index.count("rfi")
    assert "\n" not in str(raised.value) and str(raised.value).startswith(index.address)
    with pytest.raises(DatabaseServerError):
        index.check_readable()
    index.close()


def test_an_index_missing_a_table_is_found_before_a_run_fetches(pg_url: str) -> None:
    index = PostgresIndex(pg_url)
    index.check_readable()
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("DROP TABLE newsarchive.takedowns")
    with pytest.raises(ArchiveError, match="its table takedowns is missing") as raised:
        index.check_readable()
    assert "\n" not in str(raised.value) and str(raised.value).startswith(index.address)
    index.close()


# migrations ---------------------------------------------------------------------------------


def _versions(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as db:
        return db.execute("SELECT version, name FROM newsarchive.schema_migrations ORDER BY version").fetchall()


def test_migrations_apply_once_even_when_two_processes_open_a_new_database_together(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_index() -> None:
        try:
            PostgresIndex(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_index) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    PostgresIndex(pg_url).close()
    assert _versions(pg_url) == [(number, name) for number, name, _ in MIGRATIONS]


def test_a_failing_migration_step_leaves_nothing_and_is_applied_again_later(pg_url: str) -> None:
    PostgresIndex(pg_url).close()
    steps = (*MIGRATIONS, (len(MIGRATIONS) + 1, "half done", "CREATE TABLE half (a int); SELECT 1 / 0"))
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("SET search_path TO newsarchive")
        with pytest.raises(psycopg.errors.DivisionByZero):
            migrate(db, "newsarchive", "here", steps)
        assert db.execute("SELECT to_regclass('half')").fetchone() == (None,)
        assert len(_versions(pg_url)) == len(MIGRATIONS)
        fixed = (*MIGRATIONS, (len(MIGRATIONS) + 1, "whole", "CREATE TABLE half (a int)"))
        assert migrate(db, "newsarchive", "here", fixed) == len(fixed)
        with pytest.raises(ArchiveError, match="newer than this newsarchive knows"):
            PostgresIndex(pg_url)


# carrying an old index over -----------------------------------------------------------------


def test_a_rebuild_carries_over_what_the_files_cannot_tell_and_takes_the_old_ones_place(pg_url: str) -> None:
    old = PostgresIndex(pg_url)
    kept = added(old, article(1_048_575, guid="g1", first_seen_ms=5, updated_ms=6), "link:rfi:a")
    changed = added(old, article(1_048_574, first_seen_ms=7), "link:rfi:b")
    old.record_run("rfi", started_ms=1, seconds=1.0, new=1, updated=0, unchanged=0, error=None)
    old.save_recheck(kept.rowid, 100, 1, "unchanged", "h")
    old.set_article_images(kept.rowid, ["https://i.example.org/1.png"])
    fresh = PostgresIndex(pg_url, schema="newsarchive_rebuild")
    fresh.add_article(article(1_048_574, fingerprint="other"), ["link:rfi:b"])  # a file that changed since
    rebuilt = added(fresh, article(1_048_575, first_seen_ms=None, updated_ms=None), "link:rfi:a")
    fresh.carry_over_from("newsarchive")
    fresh.carry_over_from("no_such_schema")  # nothing to carry: nothing happens
    row = fresh.article_at(kept.path)
    assert isinstance(row, ArticleRow) and (row.guid, row.first_seen_ms, row.updated_ms) == ("g1", 5, 6)
    assert fresh.find_many(["guid:rfi:g1"])["guid:rfi:g1"].rowid == rebuilt.rowid
    assert fresh.article_at(changed.path).first_seen_ms != changed.first_seen_ms  # type: ignore[union-attr]  # another text: not carried
    assert fresh.last_runs("rfi") == (1, None, None) and fresh.recheck_state(rebuilt.rowid) == (1, "h")
    assert fresh.article_images(rebuilt.rowid) == ["https://i.example.org/1.png"] and fresh.count_images_unread() == 1
    fresh.record_run("rfi", started_ms=2, seconds=1.0, new=0, updated=0, unchanged=0, error=None)  # row ids past the carried ones
    old.close()
    fresh.take_place_of("newsarchive")
    assert fresh.schema == "newsarchive"
    fresh.close()
    again = PostgresIndex(pg_url)
    assert again.article_at(kept.path).guid == "g1" and again.last_run_ms() == 2  # type: ignore[union-attr]
    again.close()
