"""publish over real git: bare repositories on disk as mirrors, one of them unreachable for a while."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import FeedServer, item, rss, sources_file
from .test_cli import explain, run

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(*args: str | Path, cwd: Path) -> str:
    return subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=True).stdout


def archive_with_mirrors(tmp_path: Path, server: FeedServer) -> tuple[Path, Path, list[Path]]:
    archive = tmp_path / "archive"
    assert run("init", "--git", archive).returncode == 0
    mirrors = [tmp_path / "mirror-a.git", tmp_path / "mirror-b.git", tmp_path / "later.git"]
    for mirror in mirrors[:2]:
        git("init", "--bare", "--quiet", mirror, cwd=tmp_path)
    config = archive / "newsarchive.toml"
    tables = "".join(f'\n[[mirrors]]\nname = "{m.stem}"\nurl = "{m}"\n' for m in mirrors)
    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", rss(item(1), item(2)))]}, names={"a": "甲台"})
    # The outlet lives in the archive's own configuration, as it would for a user.
    config.write_text(config.read_text() + tables + "\n" + sources.read_text(encoding="utf-8"), encoding="utf-8")
    return archive, sources, mirrors


def test_publish_commits_once_and_pushes_to_every_reachable_mirror(server: FeedServer, tmp_path: Path) -> None:
    archive, sources, mirrors = archive_with_mirrors(tmp_path, server)
    run("update", "--archive", archive, "--sources", sources)
    result = run("publish", "--archive", archive, "--push", "--json")
    assert result.returncode == 1, explain(result)  # the third mirror does not exist yet
    report = json.loads(result.stdout)
    assert report["message"] == "甲台 +2"
    assert report["pushed"] == ["mirror-a", "mirror-b"]
    assert [f["mirror"] for f in report["failed"]] == ["later"]
    head = git("rev-parse", "HEAD", cwd=archive).strip()
    for mirror in mirrors[:2]:
        assert git("rev-parse", "refs/heads/" + git("branch", "--show-current", cwd=archive).strip(), cwd=mirror).strip() == head
    tracked = git("ls-files", "-z", cwd=archive).split("\0")
    assert {"articles/a/1048574.md", "README.md", "lists/甲台.md", "newsarchive.toml"} <= set(tracked)
    assert not any(p.startswith(".newsarchive") for p in tracked)

    # Nothing new: no commit. The missing mirror appears and gets everything on the next push.
    git("init", "--bare", "--quiet", mirrors[2], cwd=tmp_path)
    result = run("publish", "--archive", archive, "--push", "--json")
    assert result.returncode == 0, explain(result)
    report = json.loads(result.stdout)
    assert report["commit"] is None and report["pushed"] == ["mirror-a", "mirror-b", "later"]
    assert git("rev-parse", "HEAD", cwd=archive).strip() == head


def test_changed_articles_are_counted_in_the_message(server: FeedServer, tmp_path: Path) -> None:
    archive, sources, _ = archive_with_mirrors(tmp_path, server)
    run("update", "--archive", archive, "--sources", sources)
    run("publish", "--archive", archive)
    server.add("/a.xml", rss(item(1, body="<p>更正</p>"), item(2), item(3)))
    run("update", "--archive", archive, "--sources", sources)
    result = run("publish", "--archive", archive, "--json")
    assert json.loads(result.stdout)["message"] == "甲台 +1 ~1", explain(result)
    assert git("log", "--format=%s", cwd=archive).splitlines() == ["甲台 +1 ~1", "甲台 +2"]


def test_not_a_repository_says_how_to_make_one(tmp_path: Path) -> None:
    run("init", tmp_path / "plain")
    result = run("publish", "--archive", tmp_path / "plain")
    assert result.returncode == 1 and "is not a git repository" in result.stderr and "init --git" in result.stderr, explain(result)


def test_folders_git_does_not_track_yet_do_not_fail_the_commit(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    assert run("init", "--git", archive).returncode == 0
    (archive / "articles" / "a").mkdir(parents=True)
    (archive / "articles" / "a" / "1048574.md").write_text("<!--0-->\n[甲](https://news.example.org/1)\n------\n\n正文\n", encoding="utf-8")
    assert not any((archive / "lists").iterdir())  # an empty folder: no pathspec git could match
    result = run("publish", "--archive", archive, "--json")
    assert result.returncode == 0, explain(result)
    assert "articles/a/1048574.md" in git("ls-files", cwd=archive)


def test_what_the_user_staged_elsewhere_stays_out_of_the_commit(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    assert run("init", "--git", archive).returncode == 0
    assert git("config", "feature.manyFiles", cwd=archive).strip() == "true"
    (archive / "notes.txt").write_text("mine", encoding="utf-8")
    git("add", "notes.txt", cwd=archive)
    (archive / "articles" / "a").mkdir(parents=True)
    (archive / "articles" / "a" / "1048574.md").write_text("<!--0-->\n[甲](https://news.example.org/1)\n------\n\n正文\n", encoding="utf-8")
    assert run("publish", "--archive", archive).returncode == 0
    assert "notes.txt" not in git("show", "--name-only", "--format=", "HEAD", cwd=archive)
    assert "A  notes.txt" in git("status", "--short", cwd=archive)


def test_mirrors_readers_can_browse_go_into_readme_on_publish(server: FeedServer, tmp_path: Path) -> None:
    archive, sources, mirrors = archive_with_mirrors(tmp_path, server)
    run("update", "--archive", archive, "--sources", sources)
    run("publish", "--archive", archive)
    assert "Mirrors" not in (archive / "README.md").read_text(encoding="utf-8")
    config = archive / "newsarchive.toml"
    line = f'url = "{mirrors[0]}"\n'
    config.write_text(config.read_text().replace(line, line + 'read_url = "https://you.github.io/news/"\n', 1), encoding="utf-8")
    result = run("publish", "--archive", archive, "--json")  # nothing new was archived: README changes all the same
    assert result.returncode == 0 and json.loads(result.stdout)["commit"], explain(result)
    readme = git("show", "HEAD:README.md", cwd=archive)
    assert readme.endswith("镜像 Mirrors\n------\n\n[mirror-a](https://you.github.io/news/)\n\n") and "mirror-b" not in readme


@pytest.mark.parametrize("read_url", ['"ftp://x.example.org/"', '"you.github.io/news"', "3"])
def test_a_read_url_must_be_a_web_address(tmp_path: Path, read_url: str) -> None:
    run("init", tmp_path / "a")
    config = tmp_path / "a" / "newsarchive.toml"
    config.write_text(config.read_text() + f'\n[[mirrors]]\nname = "m"\nurl = "/x.git"\nread_url = {read_url}\n', encoding="utf-8")
    result = run("doctor", "--archive", tmp_path / "a")
    assert result.returncode == 2 and "read_url" in result.stderr and "is not a web address" in result.stderr, explain(result)
