"""What runs in worker threads and processes during an update: parse, normalise, stage.

Kept apart from ``pipeline`` so that a worker process imports only what it needs (no HTTP client,
no command line), which keeps its start-up short.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import Executor

from .fetch_paths import is_local_path
from .normalise import normalise_item
from .parse import parse_feed
from .store.staging import StagedArticle, stage_articles


def prepare_feed(data: bytes, url: str, charset: str | None, slug: str, seen_ms: int, root: str) -> tuple[list[StagedArticle], list[str]]:
    """Stages 3 and 4 for one feed, and the files of its new and changed articles staged."""
    parsed = parse_feed(data, url=url, http_charset=charset)
    base = None if is_local_path(url) else url
    articles = [normalise_item(item, source=slug, seen_ms=seen_ms, base_url=base, feed=url) for item in parsed.items]
    return stage_articles(root, articles), list(parsed.warnings)


def process_pool() -> Executor:
    """Worker processes, one per core (at most 4).

    Spawned, not forked: forking a process that runs threads can deadlock the child; and not from a
    forkserver, whose workers outlive a killed run. Like all spawned workers, they import the caller's
    main module again: scripts that call the API need ``if __name__ == "__main__":``.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(os.cpu_count() or 1, 4)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)


def die_with_parent() -> None:
    """In a worker process: be killed when the process that started it dies (Linux), so that a killed
    run leaves no workers behind."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
