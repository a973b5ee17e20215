"""Commit what changed in the archive and push it to every mirror, with the user's own git.

One commit per publish, whose message says what changed per outlet ("法广 +3, 德国之声 +1 ~2"); no
change, no commit. Every mirror gets HEAD pushed; one that cannot be reached is reported and simply
gets everything on the next push, and never stops the others.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PublishError
from ..sources import slug_for_folder
from ..store import layout
from ..store.store import Store

PUSH_MINUTES = 240
_FALLBACK_IDENTITY = ("-c", "user.name=newsarchive", "-c", "user.email=newsarchive@localhost")


@dataclass(frozen=True, kw_only=True)
class PublishReport:
    commit: str | None = None  # the new commit, or None when nothing changed
    message: str = ""
    pushed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = field(default=())  # (mirror, reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "message": self.message,
            "pushed": list(self.pushed),
            "failed": [{"mirror": name, "error": error} for name, error in self.failed],
        }


def run_git(root: Path, *args: str, remote: str = "", timeout_minutes: int = 10) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=timeout_minutes * 60, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise PublishError("git is not installed", hint="install git (https://git-scm.com) and try again") from None
    except subprocess.TimeoutExpired:
        raise PublishError(f"git {args[0]} took more than {timeout_minutes} minutes", remote=remote) from None
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise PublishError(f"git {args[0]} failed: {reason[-1] if reason else 'exit ' + str(result.returncode)}", remote=remote)
    return result.stdout


def init_repository(root: Path) -> str:
    """Make the archive a git repository (if it is not in one); says what it did."""
    try:
        ensure_repository(root)
        return f"{root} is already in a git repository"
    except PublishError as exc:
        if "not a git repository" not in str(exc):
            raise
    run_git(root, "init", "--quiet")
    # Index v4 and the untracked cache: publish stays quick with hundreds of thousands of files (bench/git_bench.py).
    run_git(root, "config", "feature.manyFiles", "true")
    return f"made {root} a git repository"


def ensure_repository(root: Path) -> None:
    """Raise unless the archive is a git repository or a folder of one (which works too)."""
    try:
        run_git(root, "rev-parse", "--show-toplevel")
    except PublishError as exc:
        if "git is not installed" in str(exc):
            raise
        raise PublishError(f"{root} is not a git repository", hint=f"run `git init {root}`, or `newsarchive init --git {root}`") from None


def staged_changes(name_status_z: str) -> list[tuple[str, str]]:
    """(status, path) from ``git diff --name-status -z`` (NUL-separated, so no path comes back quoted)."""
    fields = name_status_z.split("\0")
    return list(zip(fields[0:-1:2], fields[1::2], strict=False))


def commit_message(archive: Store, changes: list[tuple[str, str]]) -> str:
    """ "法广 +3, 德国之声 +1 ~2" from git's list of staged changes, outlets in configured order."""
    added: Counter[str] = Counter()
    changed: Counter[str] = Counter()
    for status, path in changes:
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == layout.ARTICLES and parts[2].endswith(".md"):
            slug = slug_for_folder(parts[1], archive.settings.sources)
            (added if status.startswith("A") else changed)[slug] += 1
    order = [s.slug for s in archive.settings.sources] + sorted(set(added) | set(changed))
    pieces = []
    for slug in dict.fromkeys(order):
        if added[slug] or changed[slug]:
            piece = (
                archive.source_name(slug) + (f" +{added[slug]}" if added[slug] else "") + (f" ~{changed[slug]}" if changed[slug] else "")
            )
            pieces.append(piece)
    return ", ".join(pieces) or "newsarchive: lists and files"


def publish(archive: Store, *, push: bool = False) -> PublishReport:
    """Commit what changed (one commit) and, with ``push``, push HEAD to every configured mirror."""
    root = archive.root
    ensure_repository(root)
    archive.refresh_lists(())  # README.md lists the mirrors' read_url: bring it up to date with newsarchive.toml
    config = archive.settings.publish
    include = [path for path in config.paths() if (root / path).exists()]
    commit = None
    message = ""
    if include:
        run_git(root, "add", "--all", "--", *include)
        staged = staged_changes(run_git(root, "diff", "--cached", "--name-status", "--no-renames", "-z", "--", *include))
        if staged:
            message = commit_message(archive, staged)
            identity = () if _git_identity(root) else _FALLBACK_IDENTITY
            # A commit limited by paths builds a second index (slow with 500,000 files), so limit it only when
            # something outside the archive's paths is staged too; and then only by pathspecs git knows (one naming
            # a folder with no tracked file yet, like an empty lists/, fails the commit).
            everything = staged_changes(run_git(root, "diff", "--cached", "--name-status", "--no-renames", "-z"))
            paths = [path for _, path in staged]
            known = [entry for entry in include if any(path == entry or path.startswith(entry + "/") for path in paths)]
            limit = ("--", *known) if len(everything) != len(staged) else ()
            run_git(root, *identity, "commit", "--quiet", "--no-verify", "-m", message, *limit)
            commit = run_git(root, "rev-parse", "HEAD").strip()
    pushed, failed = [], []
    if push:
        branch = config.branch or run_git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
        for mirror in archive.settings.mirrors:
            try:
                # The first push of a large archive sends gigabytes: hours, not minutes, before calling it stuck.
                run_git(root, "push", "--quiet", mirror.url, f"HEAD:refs/heads/{branch}", remote=mirror.name, timeout_minutes=PUSH_MINUTES)
            except PublishError as exc:
                failed.append((mirror.name, str(exc)))
            else:
                pushed.append(mirror.name)
    return PublishReport(commit=commit, message=message, pushed=tuple(pushed), failed=tuple(failed))


def _git_identity(root: Path) -> bool:
    try:
        return bool(run_git(root, "config", "user.email").strip())
    except PublishError:
        return False
