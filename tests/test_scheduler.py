"""run: several rounds over loopback feeds, a stop by signal after the round, a kill in the middle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsarchive.durations import parse_duration
from newsarchive.errors import ConfigError
from newsarchive.store.fileformat import parse_article

from .conftest import FeedServer, item, rss, snapshot, sources_file
from .test_cli import explain, run


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("90s", 90), ("1h30m", 5400), ("0.5", 0.5), ("2.5s", 2.5), ("1d", 86400), ("10m", 600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1", "0", "1w", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def growing_feed(server: FeedServer) -> str:
    counter = {"n": 0}

    def body() -> bytes:
        counter["n"] += 1
        return rss(*(item(n) for n in range(1, counter["n"] + 1)))

    return server.add("/grow.xml", body)


def configured(tmp_path: Path, url: str) -> Path:
    archive = tmp_path / "archive"
    run("init", archive)
    # Only this outlet: the default ones would try to reach the real outlets.
    (archive / "newsarchive.toml").write_text(sources_file(tmp_path, {"g": [url]}).read_text(encoding="utf-8"), encoding="utf-8")
    return archive


def test_rounds_archive_what_appears_between_them(server: FeedServer, tmp_path: Path) -> None:
    archive = configured(tmp_path, growing_feed(server))
    started = time.monotonic()
    result = run("run", "--archive", archive, "--every", "0.3s", "--rounds", "3")
    assert result.returncode == 0, explain(result)
    assert time.monotonic() - started >= 0.5  # two waits of 0.27 s at least
    assert [line.split(":")[1].strip() for line in result.stderr.splitlines() if line.startswith("round")][:3] == [
        "1 new, 0 updated",
        "1 new, 0 updated",
        "1 new, 0 updated",
    ]
    assert len(list((archive / "articles" / "g").glob("*.md"))) == 3


def test_sigterm_stops_after_the_round_and_a_kill_is_finished_by_the_next_run(server: FeedServer, tmp_path: Path) -> None:
    big = rss(*(item(n, body=f"<p>{'正文' * 150}{n}</p>") for n in range(1200)))
    archive = configured(tmp_path, server.add("/big.xml", big))
    command = [sys.executable, "-m", "newsarchive", "run", "--archive", str(archive), "--every", "0.2s"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any((archive / "articles").rglob("*.md")):
        time.sleep(0.01)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "round 1: 1200 new" in err
    for path in (archive / "articles").rglob("*.md"):
        parse_article(path.read_text(encoding="utf-8"), path)

    # A kill in the middle of a round: the next round completes the archive.
    (archive / "articles" / "g").rename(archive / "old")  # start over, so the next round writes a lot
    os.rename(archive / ".newsarchive" / "index.sqlite", archive / "old-index")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while time.monotonic() < deadline and not any((archive / "articles").rglob("*.md")):
        time.sleep(0.005)
    child.kill()
    child.communicate(timeout=60)
    result = run("run", "--archive", archive, "--every", "1s", "--rounds", "1")
    assert result.returncode == 0, explain(result)
    files = list((archive / "articles" / "g").glob("*.md"))
    assert len(files) == 1200 and len({parse_article(p.read_text()).link for p in files}) == 1200
    before = snapshot(archive)
    assert run("run", "--archive", archive, "--every", "1s", "--rounds", "1").returncode == 0
    assert snapshot(archive) == before
