"""Feeds and runs in the index: each feed's validators and failures (``FeedState``), one row per outlet per run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class FeedState:
    url: str
    source: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_attempt_ms: int | None = None
    last_success_ms: int | None = None
    last_error: str | None = None
    failures: int = 0
    items: int | None = None


class FeedIndex(Protocol):
    """Feeds' states (validators, failures, backoff) and the history of runs: what pipeline.py and health.py ask."""

    def feed_state(self, url: str) -> FeedState | None: ...

    def save_feed_state(self, state: FeedState) -> None: ...

    def feed_states(self, source: str) -> list[FeedState]: ...

    def record_run(
        self, source: str, *, started_ms: int, seconds: float, new: int, updated: int, unchanged: int, error: str | None
    ) -> None: ...

    def last_runs(self, source: str) -> tuple[int | None, int | None, str | None]: ...
