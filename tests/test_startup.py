"""Start-up: each command imports only what it uses, `--version` and `--help` no library of the commands.

How long they take is measured by bench/startup_bench.py, not here: this pins what is imported, which is what the
time follows. A failure names the modules imported that should not have been.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from newsarchive.cli import app

from .conftest import item, rss

# Run as the console script does, then list the top-level packages that were imported.
CHILD = """
import json, sys
sys.argv = ["newsarchive", *sys.argv[1:]]
from newsarchive.__main__ import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""

# The libraries by what they are for: a command that does none of it imports none of them.
FETCH = {"httpx", "httpcore", "anyio"}
FEEDS = {"feedparser"}
FULL_TEXT = {"trafilatura", "justext", "htmldate", "courlan"}
HTML = {"lxml", "nh3", "ada_url"}  # cleaning bodies, their plain text and images; OPML
SEARCH = {"tantivy", "opencc"}
CAPTURES = {"warcio"}
READER = {"jinja2"}
BROWSER = {"playwright"}
EDIT_CONFIG = {"tomlkit"}
POSTGRES = {"psycopg", "psycopg_pool"}  # the archives here are SQLite's
LIBRARIES = FETCH | FEEDS | FULL_TEXT | HTML | SEARCH | CAPTURES | READER | BROWSER | EDIT_CONFIG | POSTGRES
# --help prints text that typer formats without rich; pydantic is typer's for converting given option values.
HELP = LIBRARIES | {"sqlite3", "asyncio", "rich", "pydantic"}

# command -> what it must not import (on an archive of one outlet with two articles)
COMMANDS: list[tuple[list[str], set[str]]] = [
    (["sources"], LIBRARIES),
    (["search", "一带一路"], LIBRARIES - SEARCH - HTML),  # snippets are cut from the bodies' plain text
    (["search", "nothing"], LIBRARIES - SEARCH),
    (["history", "test/1048574"], LIBRARIES - HTML),  # the changes are compared as plain text
    (["takedowns"], LIBRARIES),
    (["schedule", "--print", "cron"], LIBRARIES),
    (["opml", "export"], LIBRARIES - {"lxml"}),  # OPML is written with lxml
    (["media", "--stats"], LIBRARIES),
    (["check"], LIBRARIES - SEARCH - CAPTURES),  # reads the search index and the WARC files
    (["export", "--format", "jsonl"], LIBRARIES - HTML),
]


def command_lines() -> list[list[str]]:
    """Every command and sub-command of the command line, as typer builds it."""
    group = typer.main.get_group(app)
    lines: list[list[str]] = []
    for name, command in group.commands.items():
        lines.append([name])
        lines += [[name, sub] for sub in getattr(command, "commands", {})]
    return lines


def imported(*args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env)
    return done, set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One outlet, read from a feed file, with two articles."""
    folder = tmp_path_factory.mktemp("startup")
    feed = folder / "feed.xml"
    feed.write_bytes(rss(item(1), item(2, body="<p>一带一路 <b>倡议</b></p>")))
    (folder / "sources.toml").write_text(f'[[sources]]\nname = "Test"\nslug = "test"\nfeeds = ["{feed}"]\n', encoding="utf-8")
    # conftest's clean environment, which a module's fixture runs without: no setting of the shell, nothing off the machine
    env = {name: value for name, value in os.environ.items() if not name.upper().endswith("_PROXY") and not name.startswith("NEWSARCHIVE_")}
    env |= {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9"}
    env |= {"NO_PROXY": "127.0.0.1,localhost,::1"}
    for args in (["init", "archive"], ["update", "-a", "archive", "--sources", "sources.toml"]):
        command = [sys.executable, "-m", "newsarchive", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=folder, env=env)
        assert done.returncode == 0, done.stderr
    return folder / "archive"


def test_version_imports_neither_the_command_line_nor_any_library() -> None:
    done, modules = imported("--version")
    assert done.stdout.startswith("newsarchive ")
    assert not modules & (HELP | {"typer"}), sorted(modules & (HELP | {"typer"}))


@pytest.mark.parametrize("args", [[], *command_lines()], ids=lambda args: " ".join(args) or "newsarchive")
def test_help_imports_no_library_of_the_commands(args: list[str]) -> None:
    """Also pins what keeps typer from importing pydantic for `COMMAND --help` (cli._Group) and rich (no rich help)."""
    done, modules = imported(*args, "--help")
    assert done.returncode == 0 and "Usage:" in done.stdout, done.stderr
    assert not modules & HELP, sorted(modules & HELP)


@pytest.mark.parametrize(("args", "unused"), COMMANDS, ids=[" ".join(args) for args, _ in COMMANDS])
def test_each_command_imports_only_what_it_uses(archive: Path, args: list[str], unused: set[str]) -> None:
    done, modules = imported(*args, "--archive", str(archive))
    assert done.returncode == 0, done.stderr
    assert not modules & unused, sorted(modules & unused)


def test_an_update_with_nothing_new_imports_no_parser(archive: Path) -> None:
    """The feed's bytes are those of last time: nothing is parsed, so nothing that parses or cleans is imported."""
    done, modules = imported("update", "--sources", str(archive.parent / "sources.toml"), "--archive", str(archive))
    assert done.returncode == 0, done.stderr
    unused = FEEDS | FULL_TEXT | HTML | READER | BROWSER | EDIT_CONFIG | POSTGRES
    assert not modules & unused, sorted(modules & unused)
