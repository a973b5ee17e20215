"""The README documents every command, every setting, and gives the Quick start that CI runs."""

from __future__ import annotations

from pathlib import Path

import typer.main

from newsarchive.cli import app
from newsarchive.config import SETTINGS_HELP, render_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_has_help_and_a_readme_section() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert set(commands) >= {"init", "update", "import", "reindex", "sources", "demo"}
    for name, command in commands.items():
        assert command.help, f"{name} has no help text"
        assert f"### newsarchive {name}\n" in README, f"README has no section for {name}"


def test_every_setting_is_documented_and_in_the_generated_config() -> None:
    config = render_config()
    for key in SETTINGS_HELP:
        assert f"`{key}`" in README, f"README does not document {key}"
        assert f"{key.split('.')[1]} =" in config, f"newsarchive.toml from init does not show {key}"


def test_ci_runs_the_readme_test_command() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in quick_start.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2 and "newsarchive demo" in commands[0] and "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_index_table_and_column_is_documented(tmp_path: Path) -> None:
    """docs/schema.md documents the index table by table, for users who open it with sqlite3 or datasette."""
    import sqlite3

    from newsarchive.index.db import Index

    Index(tmp_path / "index.sqlite").close()
    schema = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    db = sqlite3.connect(tmp_path / "index.sqlite")
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    for table in tables:
        section = schema.split(f"\n### {table}\n", 1)
        assert len(section) == 2, f"docs/schema.md has no section for table {table}"
        text = section[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        for column in (row[1] for row in db.execute(f"PRAGMA table_info({table})")):
            assert f"`{column}`" in text, f"docs/schema.md does not document {table}.{column}"
    db.close()
    assert "docs/schema.md" in README
