"""Start-up: `--version` and `--help` import only what they use (timed in bench/README, not here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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

# What the run of update, search or serve needs; none of it has any use for printing a version or the help.
HEAVY = {"httpx", "httpcore", "lxml", "feedparser", "tantivy", "trafilatura", "warcio", "jinja2", "nh3", "sqlite3", "asyncio", "tomlkit"}


def imported(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout, set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_version_imports_neither_the_command_line_nor_any_library() -> None:
    out, modules = imported("--version")
    assert out.startswith("newsarchive ")
    assert not modules & (HEAVY | {"typer", "click", "rich"}), sorted(modules & (HEAVY | {"typer", "click", "rich"}))


@pytest.mark.parametrize("args", [["--help"], ["update", "--help"], ["search", "--help"]])
def test_help_imports_no_library_of_the_commands(args: list[str]) -> None:
    out, modules = imported(*args)
    assert "Usage:" in out
    assert not modules & HEAVY, sorted(modules & HEAVY)
