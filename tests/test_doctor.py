"""doctor: says what works and what to fix, with exit status 1 when something is wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import FeedServer, item, rss, sources_file
from .test_cli import explain, run


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_doctor_finds_a_dead_feed_and_an_unreachable_mirror(server: FeedServer, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    run("init", "--git", archive)
    good, dead = server.add("/good.xml", rss(item(1))), server.base + "/gone.xml"
    subprocess.run(["git", "init", "--bare", "--quiet", str(tmp_path / "mirror.git")], check=True)
    config = sources_file(tmp_path, {"a": [good, dead]}).read_text(encoding="utf-8")
    config += f'\n[[mirrors]]\nname = "here"\nurl = "{tmp_path / "mirror.git"}"\n'
    config += f'\n[[mirrors]]\nname = "gone"\nurl = "{tmp_path / "missing.git"}"\n'
    (archive / "newsarchive.toml").write_text(config, encoding="utf-8")
    result = run("doctor", "--archive", archive, "--json")
    assert result.returncode == 1, explain(result)
    checks = {check["subject"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks[f"feed a: {good}"]["ok"] and "1 items" in checks[f"feed a: {good}"]["detail"]
    assert not checks[f"feed a: {dead}"]["ok"] and "HTTP 404" in checks[f"feed a: {dead}"]["detail"]
    assert checks["git"]["ok"] and checks["mirror here"]["ok"]
    assert not checks["mirror gone"]["ok"]
    (archive / "newsarchive.toml").write_text(sources_file(tmp_path, {"a": [good]}).read_text(encoding="utf-8"), encoding="utf-8")
    result = run("doctor", "--archive", archive)
    assert result.returncode == 0 and "ok" in result.stderr, explain(result)
