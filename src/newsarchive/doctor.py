"""`newsarchive doctor`: check the configuration, the feeds, git and the mirrors, and say what to fix."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from typing import Any

from .archive import Archive
from .errors import FetchError, NewsarchiveError, PublishError
from .fetch import Fetcher
from .parse import parse_feed


@dataclass(frozen=True, kw_only=True)
class Check:
    subject: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "ok": self.ok, "detail": self.detail, "fix": self.fix}


async def _check_feed(fetcher: Fetcher, slug: str, url: str) -> Check:
    subject = f"feed {slug}: {url}"
    try:
        result = await fetcher.fetch(url)
        if result.body is None:
            return Check(subject=subject, ok=True, detail="not modified")
        feed = parse_feed(result.body, url=url, http_charset=result.charset)
    except FetchError as exc:
        return Check(subject=subject, ok=False, detail=str(exc), fix=exc.hint)
    except NewsarchiveError as exc:
        return Check(subject=subject, ok=False, detail=str(exc), fix=exc.hint)
    warning = f"; {feed.warnings[0]}" if feed.warnings else ""
    return Check(subject=subject, ok=True, detail=f"{len(feed.items)} items{warning}")


async def _check_feeds(archive: Archive) -> list[Check]:
    async with Fetcher(archive.settings.fetch) as fetcher:
        jobs = [_check_feed(fetcher, s.slug, url) for s in archive.settings.sources if s.enabled for url in s.feeds]
        return list(await asyncio.gather(*jobs))


def _check_git(archive: Archive) -> list[Check]:
    from .publish.git import ensure_repository, run_git

    if not archive.settings.mirrors:
        return [Check(subject="mirrors", ok=True, detail="none configured ([[mirrors]] in newsarchive.toml to publish)")]
    if shutil.which("git") is None:
        return [Check(subject="git", ok=False, detail="git is not installed", fix="install git to publish")]
    try:
        ensure_repository(archive.root)
    except PublishError as exc:
        return [Check(subject="git", ok=False, detail=str(exc), fix=exc.hint)]
    checks = [Check(subject="git", ok=True, detail="the archive is a git repository")]
    for mirror in archive.settings.mirrors:
        try:
            run_git(archive.root, "ls-remote", "--heads", mirror.url, remote=mirror.name)
        except PublishError as exc:
            checks.append(Check(subject=f"mirror {mirror.name}", ok=False, detail=str(exc), fix="check the URL and your credentials"))
        else:
            checks.append(Check(subject=f"mirror {mirror.name}", ok=True, detail="reachable"))
    return checks


def diagnose(archive: Archive) -> list[Check]:
    """Every check, in the order a user would fix things."""
    checks = [Check(subject="configuration", ok=True, detail=f"{len(archive.settings.sources)} outlets, read from newsarchive.toml")]
    free = shutil.disk_usage(archive.root).free
    checks.append(
        Check(subject="disk", ok=free > 1 << 30, detail=f"{free / (1 << 30):.1f} GiB free", fix="free some space: the archive grows")
    )
    checks += asyncio.run(_check_feeds(archive))
    checks += _check_git(archive)
    return checks
