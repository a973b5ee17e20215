"""The user-facing façade: an archive folder opened with its settings, and every feature started from it.

``Archive`` is the store (``store/store.py``: the files, the index, ``apply``, ``recover``, import and reindex)
with a method per feature. The features themselves are handed the store and never reach back up to this
module, so the layers import only downward (see docs/design.md). Features are imported on first use, which keeps
``import newsarchive`` and the command line's start-up cheap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .store.folder import StrPath
from .store.store import Store

if TYPE_CHECKING:
    from .check import CheckReport
    from .diff import History
    from .export import ExportReport, ExportTarget
    from .index.images import MediaStats
    from .media import PruneReport
    from .models import SourceReport, UpdateReport
    from .publish.bundle import BundleReport
    from .publish.git import PublishReport
    from .publish.site import SiteReport
    from .recheck import Takedown


class Archive(Store):
    """An archive folder and what can be done with it: ``update``, ``publish``, ``search``, ``serve``, ``build_site``..."""

    def update(
        self,
        *,
        only: Sequence[str] | None = None,
        clock: Callable[[], float] = time.time,
        on_source_done: Callable[[SourceReport], None] | None = None,
        recheck: bool = False,
    ) -> UpdateReport:
        """Fetch every enabled outlet (or those in ``only``) and store what is new or changed; see
        ``newsarchive.pipeline.update``. ``recheck``: recheck every recent article's page now."""
        from .pipeline import update

        return update(self, only=only, clock=clock, on_source_done=on_source_done, recheck=recheck)

    def publish(self, *, push: bool = False) -> PublishReport:
        """Commit what changed (one commit) and, with ``push``, push it to every mirror; holds the lock."""
        from .publish.git import publish

        with self.lock():
            return publish(self, push=push)

    def takedowns(self, *, since_ms: int | None = None) -> list[Takedown]:
        """Articles the outlets removed, as rechecks found and a later run confirmed; newest first (see recheck.py)."""
        from .recheck import takedowns

        return takedowns(self, since_ms)

    def serve(self, host: str = "127.0.0.1", port: int = 8000, *, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve the reader in a browser until interrupted; see ``newsarchive.web.app``."""
        from .web.app import serve

        serve(self, host, port, on_ready=on_ready)

    def build_site(self, out: StrPath, *, base_url: str | None = None, on_progress: Callable[[int], None] | None = None) -> SiteReport:
        """Write (or bring up to date) the static site in ``out``; see ``newsarchive.publish.site``."""
        from .publish.site import build_site

        return build_site(self, Path(out), base_url=base_url, on_progress=on_progress)

    def bundle(self, out: StrPath, *, since_ms: int | None = None) -> BundleReport:
        """Write one zip with the static site (search included) and the raw archive, for reading offline;
        see ``newsarchive.publish.bundle``."""
        from .publish.bundle import bundle

        return bundle(self, Path(out), since_ms=since_ms)

    def export(
        self,
        target: ExportTarget,
        *,
        format: str = "jsonl",
        source: str | None = None,
        since_ms: int | None = None,
        on_skip: Callable[[str, str], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> ExportReport:
        """Write one record per article version (text, HTML, links, images) as JSON Lines or Parquet to a file
        (atomically) or a binary stream; see ``newsarchive.export``."""
        from .export import export

        return export(self, target, format=format, source=source, since_ms=since_ms, on_skip=on_skip, on_progress=on_progress)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Check the whole archive against its index and back; with ``repair`` (under the lock) fix what can be fixed.
        Without it nothing is written. See ``newsarchive.check``."""
        from .check import check

        return check(self, repair=repair)

    def media_stats(self) -> MediaStats:
        """Images kept in media/: files, bytes, failures, not yet tried (see ``newsarchive.media``)."""
        from .media import stats

        return stats(self)

    def prune_media(self, *, dry_run: bool = True) -> PruneReport:
        """Remove the stored images no article refers to; with ``dry_run`` only list them. Holds the archive lock."""
        from .media import prune

        with self.lock():
            return prune(self, dry_run=dry_run)

    def backfill_media(self, articles: int) -> int:
        """Read the images of up to ``articles`` older articles now (the next updates download them); returns how
        many were read. Holds the archive lock, so that no update waits on the index meanwhile."""
        from .media import backfill_now

        with self.lock():
            return backfill_now(self, articles)

    def history(self, article: StrPath, *, source: str | None = None) -> History:
        """The versions of an article (named by its link, its file, or ``<slug>/<id>``) and what changed between
        them; ConfigError when no article or several match. See ``newsarchive.diff``."""
        from .diff import history

        return history(self, os.fspath(article), source=source)


class ReplicaArchive(Archive):
    """A reader's copy of an archive on another machine (``store/replica.py``), for the commands that only read."""

    def _search_needs_sync(self) -> bool:
        return False  # the copy's own search index, kept current by its catch-up, never the archive's progress


def open_replica(url: str, cache: StrPath | None = None) -> Archive:
    """The archive whose index is in the PostgreSQL database ``url``, read from a copy in ``cache`` (default:
    ``~/.cache/newsarchive/<hash>``), brought up to date first; read as it is when a reader (``serve --database``)
    holds it, since that one keeps it current."""
    from .errors import ArchiveLockedError
    from .store.replica import Replica, default_cache

    folder = Path(cache) if cache is not None else default_cache(url)
    try:
        with Replica.open(url, folder) as replica:
            replica.catch_up()
            settings = replica.settings()
    except ArchiveLockedError:
        settings = Replica(url, folder).settings()
    return ReplicaArchive(folder.absolute(), settings, read_only=True)
