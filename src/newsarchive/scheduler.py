"""`newsarchive run`: update (and publish) every so often, in the foreground, until stopped.

A round that is still running when the next is due simply delays it; another process holding the
archive (a cron job, a manual run) makes this round skip, never wait or interleave. SIGINT or SIGTERM
ends the loop after the current round, so the archive is never left mid-write on purpose; a second
signal stops at once (the journal makes even that safe).
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from .archive import Archive
from .errors import ArchiveLockedError, PublishError
from .models import UpdateReport

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Round:
    number: int
    update: UpdateReport | None  # None: another run held the archive
    publish_error: str | None = None


def run_forever(
    archive: Archive,
    *,
    every: float,
    publish: bool = False,
    rounds: int | None = None,
    jitter: float = 0.1,
    on_round: Callable[[Round], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run rounds until stopped (or ``rounds`` are done); returns how many ran. Each wait is ``every``
    give or take ``jitter`` of it, so that many archives do not fetch in step."""
    stop = stop or threading.Event()
    number = 0
    with _stop_on_signals(stop):
        while not stop.is_set() and (rounds is None or number < rounds):
            number += 1
            try:
                report: UpdateReport | None = archive.update()
            except ArchiveLockedError as exc:
                log.warning("round %d skipped: %s", number, exc)
                report = None
            publish_error = None
            if publish and report is not None:
                try:
                    archive.publish(push=True)
                except PublishError as exc:
                    publish_error = str(exc)
            if on_round:
                on_round(Round(number=number, update=report, publish_error=publish_error))
            if rounds is not None and number >= rounds:
                break
            stop.wait(every * random.uniform(1 - jitter, 1 + jitter))
    return number


class _stop_on_signals:
    """First SIGINT/SIGTERM: finish the round, then stop. Second: stop now."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.previous: dict[int, object] = {}

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        log.warning("stopping after this round (signal %d); send it again to stop now", number)
        self.stop.set()

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)

    def __exit__(self, *exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
