"""When feeds and outlets are due: the backoff of a failing feed, and the pace of an outlet fetched less often
than each run (``every``). Pure functions of the feeds' states, shared by the run (pipeline.py) and the health
report (health.py)."""

from __future__ import annotations

from collections.abc import Mapping

from .index import FeedState
from .sources import Source

BACKOFF_FIRST_MS = 15 * 60 * 1000  # after the second failure in a row; doubled for each further one
BACKOFF_MAX_MS = 12 * 3600 * 1000


def backoff_until(state: FeedState) -> int | None:
    """When a failing feed may be tried again: at once after one failure (a run an hour later always
    retries), then after 15 minutes, 30, an hour, … and at most 12 hours."""
    if state.failures < 2 or state.last_attempt_ms is None:
        return None
    wait: int = min(BACKOFF_FIRST_MS * 2 ** (state.failures - 2), BACKOFF_MAX_MS)
    return state.last_attempt_ms + wait


def due_again_ms(source: Source, states: Mapping[str, FeedState], now_ms: int) -> int | None:
    """When an outlet fetched less often than each run (``every``) is due next, or None when it is due now. A run a
    little early (a tenth of ``every``, at most a minute) counts as on time, so that `run --every 1h` keeps an
    outlet of every = "1h" on every round."""
    if source.every is None:
        return None
    attempts = [state.last_attempt_ms for url in source.feeds if (state := states.get(url)) and state.last_attempt_ms]
    if not attempts:
        return None
    due = int(max(attempts) + source.every * 1000 - min(60_000, source.every * 100))
    return due if now_ms < due else None
