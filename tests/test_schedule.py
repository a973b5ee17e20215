"""schedule --print: the three schedules name this archive and run update, then publish."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from functools import partial
from pathlib import Path

import pytest

from newsarchive.publish.schedule import only_here, requirement_from

from .conftest import FeedServer, item, rss, sources_file
from .test_cli import explain, run


def test_cron_systemd_and_github(tmp_path: Path) -> None:
    run("init", tmp_path)
    cron = run("schedule", "--print", "cron", "--archive", tmp_path)
    assert cron.returncode == 0, explain(cron)
    line = next(entry for entry in cron.stdout.splitlines() if not entry.startswith("#"))
    minute, hour, *_ = line.split()
    assert 0 <= int(minute) < 60 and hour == "*"
    assert f"update --archive {tmp_path}" in line and f"publish --push --archive {tmp_path}" in line
    systemd = run("schedule", "--print", "systemd", "--archive", tmp_path).stdout
    assert "OnCalendar=hourly" in systemd and "Persistent=true" in systemd and f"WorkingDirectory={tmp_path}" in systemd
    github = run("schedule", "--print", "github", "--archive", tmp_path, "--package", "newsarchive==0.1.0").stdout
    for expected in ("cron:", "actions/cache@v4", "pip install newsarchive==0.1.0", "newsarchive publish --push", "keep-alive"):
        assert expected in github
    assert "\t" not in github  # YAML forbids tabs
    bad = run("schedule", "--print", "windows", "--archive", tmp_path)
    assert bad.returncode == 2 and "cron, systemd, github" in bad.stderr, explain(bad)


def test_the_workflow_installs_newsarchive_as_this_copy_was_installed() -> None:
    assert requirement_from(None, "0.1.0") == "newsarchive==0.1.0"  # from a package index
    git = {"url": "https://github.com/you/newsarchive", "vcs_info": {"vcs": "git", "commit_id": "0123abc", "requested_revision": "main"}}
    assert requirement_from(git, "0.1.0") == "newsarchive @ git+https://github.com/you/newsarchive@0123abc"
    wheel = {"url": "https://example.invalid/newsarchive-0.1.0-py3-none-any.whl", "archive_info": {}}
    assert requirement_from(wheel, "0.1.0") == "newsarchive @ https://example.invalid/newsarchive-0.1.0-py3-none-any.whl"
    folder = requirement_from({"url": "file:///src/newsarchive", "dir_info": {"editable": True}}, "0.1.0")
    assert folder == "newsarchive @ file:///src/newsarchive" and only_here(folder) and not only_here("newsarchive==0.1.0")


def test_the_github_workflow_runs_as_written(server: FeedServer, tmp_path: Path) -> None:
    """The workflow's steps in order, as a runner would run them, in a clean virtual environment against loopback
    feeds: checkout is a clone of the archive's repository, setup-python is that environment, the cache has nothing
    yet; every `run:` step runs as written under bash -eo pipefail, as GitHub runs it."""
    yaml = pytest.importorskip("yaml")
    archive, mirror, workspace = tmp_path / "archive", tmp_path / "mirror.git", tmp_path / "workspace"
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.invalid"}
    assert run("init", "--git", archive).returncode == 0
    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", rss(item(1), item(2)))]})
    (archive / "newsarchive.toml").write_text("[archive]\nwarc = false\n\n" + sources.read_text(encoding="utf-8"), encoding="utf-8")
    git = partial(subprocess.run, check=True, capture_output=True, env={**os.environ, **identity})
    git(["git", "-C", str(archive), "add", "-A"])
    git(["git", "-C", str(archive), "commit", "-qm", "start"])
    git(["git", "init", "-q", "--bare", str(mirror)])
    git(["git", "-C", str(archive), "push", "-q", str(mirror), "HEAD:main"])

    printed = run("schedule", "--print", "github", "--archive", archive)  # installs newsarchive as this copy was installed
    assert printed.returncode == 0 and "only this machine can reach" in printed.stderr, explain(printed)  # a folder here
    steps = yaml.safe_load(printed.stdout)["jobs"]["update"]["steps"]
    python = clean_environment(tmp_path / "venv")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "GIT_"))}
    env |= {"PATH": f"{python.parent}{os.pathsep}{env['PATH']}", "HOME": str(tmp_path)}
    # Offline: no index, no pip configuration, build with the setuptools at hand, and outside the source tree.
    (tmp_path / "build.cfg").write_text(f"[build]\nbuild_base = {tmp_path / 'build'}\n[egg_info]\negg_base = {tmp_path}\n")
    env |= {
        "PIP_NO_INDEX": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_BUILD_ISOLATION": "0",
        "DIST_EXTRA_CONFIG": str(tmp_path / "build.cfg"),
    }
    where = [str(python), "-c", "import newsarchive; print(newsarchive.__file__)"]
    assert subprocess.run(where, env=env, capture_output=True).returncode == 1  # not installed yet
    ran = []
    for step in steps:
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout@"):
            git(["git", "clone", "-q", "--branch", "main", str(mirror), str(workspace)])
        elif uses.startswith(("actions/setup-python@", "actions/cache@")):
            pass  # the clean environment is on PATH; the cache holds nothing yet
        else:
            assert "run" in step and not uses, step
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"step {step.get('name', step['run'])!r}:\n{explain(done)}"
            ran.append(step["run"])
    assert any("pip install" in command for command in ran) and any("newsarchive update" in command for command in ran)
    assert subprocess.run(where, env=env, capture_output=True, text=True).stdout.startswith(str(tmp_path / "venv"))  # installed there
    # What the run archived reached the mirror.
    tree = git(["git", "--git-dir", str(mirror), "ls-tree", "-r", "--name-only", "main"], text=True).stdout.split()
    assert {"articles/a/1048574.md", "articles/a/1048573.md", "lists/A.md", "health.json"} <= set(tree)


def clean_environment(folder: Path) -> Path:
    """A new virtual environment without newsarchive. Its other requirements (and pip, and setuptools for the build)
    are this environment's, seen through a path file, so that installing newsarchive needs no network."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
        ).stdout.strip()
    )
    ours = Path(sysconfig.get_path("purelib"))
    shared = folder / "shared"
    shared.mkdir()
    for entry in ours.iterdir():
        if not entry.name.lower().startswith(("newsarchive", "__editable__", "_newsarchive")) and entry.suffix != ".pth":
            (shared / entry.name).symlink_to(entry)
    (purelib / "shared.pth").write_text(f"{shared}\n")
    pip = folder / "bin" / "pip"
    pip.write_text(f"#!{python}\nimport sys\nfrom pip._internal.cli.main import main\nsys.exit(main())\n")
    pip.chmod(0o755)
    return python
