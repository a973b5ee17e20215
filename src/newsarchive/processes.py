"""Worker processes: spawned, one per core, and killed with the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import Executor


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
