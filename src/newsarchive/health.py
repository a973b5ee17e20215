"""Outlet health from the index: what ``newsarchive sources`` shows and what every update writes into the
archive as ``health.json`` (for machines) and ``health.md`` (for readers, on GitHub).

Per outlet: the last successful fetch, the last new article, consecutive failures with their error, when a
feed that keeps failing is tried next, articles in the last 24 hours, and whether the outlet is stale: no new
article for much longer than its usual gap. The usual gap is the median time between the runs that brought
something new (the distinct first-seen times of the outlet's newest articles), so it is measured in the same
unit as the silence it is compared with, and it needs no trust in the feeds' dates.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from .due import backoff_until
from .store.atomic import TMP_SUFFIX, write_if_changed
from .store.store import Store
from .times import beijing, iso

HEALTH_JSON = "health.json"
HEALTH_MD = "health.md"

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
GAP_HISTORY = 50  # gaps between the newest runs that brought something new
MIN_GAPS = 4  # fewer than this: too little history to call an outlet stale
MIN_GAP_MS = HOUR_MS  # the usual gap is at least this
STALE_FACTOR = 3  # stale after this many usual gaps without a new article ...
STALE_MIN_MS = 12 * HOUR_MS  # ... and never before this (an outlet's quiet night is not staleness)
ERROR_CHARS = 160  # of an error in health.md

# Fields holding a time in ms; JSON gives each also as ISO 8601 UTC, under the same name ending in _at.
_TIMES = ("last_success_ms", "last_new_ms", "last_error_ms", "next_try_ms")


@dataclass(frozen=True, kw_only=True)
class SourceHealth:
    slug: str
    name: str
    enabled: bool
    feeds: tuple[str, ...]
    articles: int
    articles_24h: int = 0  # articles first seen in the 24 hours before now
    last_success_ms: int | None  # the last time a feed of the outlet was fetched without error
    last_new_ms: int | None = None  # when the outlet's newest article was first seen
    usual_gap_ms: int | None = None  # median time between runs that brought something new; None: too little history
    stale: bool = False  # enabled, and no new article for longer than max(3 x usual gap, 12 h)
    consecutive_failures: int  # of the outlet's worst feed
    failing_feeds: tuple[str, ...]  # feeds whose last attempt failed
    current_error: str | None = None  # the last error of each failing feed, worst first
    next_try_ms: int | None = None  # a feed that keeps failing is tried again only after this (None: not backing off)
    last_error_ms: int | None  # the last run in which the whole outlet failed (history: it may have recovered since)
    last_error: str | None

    @property
    def failing(self) -> bool:
        """Enabled, and a feed failed its last attempt (a disabled outlet is not fetched, so not failing)."""
        return self.enabled and self.consecutive_failures > 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, value in asdict(self).items():
            data[key] = list(value) if isinstance(value, tuple) else value
            if key in _TIMES:
                data[key.removesuffix("_ms") + "_at"] = iso(value)
            if key == "stale":
                data["failing"] = self.failing
        return data


def usual_gap(seen_times: list[int]) -> int | None:
    """The median gap between consecutive first-seen times (newest first), at least an hour; None with too
    little history."""
    gaps = [newer - older for newer, older in itertools.pairwise(seen_times)]
    if len(gaps) < MIN_GAPS:
        return None
    return max(statistics.median_low(gaps), MIN_GAP_MS)


def is_stale(last_new_ms: int | None, gap_ms: int | None, now_ms: int) -> bool:
    if last_new_ms is None or gap_ms is None:
        return False
    return now_ms - last_new_ms > max(STALE_FACTOR * gap_ms, STALE_MIN_MS)


def source_health(archive: Store, now_ms: int | None = None) -> list[SourceHealth]:
    """The health of every configured outlet, then of outlets that only have imported articles."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    index = archive.index
    counts = index.counts()
    configured = {s.slug for s in archive.settings.sources}
    rows = []
    for source in archive.settings.sources:
        _, failure_ms, error = index.last_runs(source.slug)
        states = [s for s in index.feed_states(source.slug) if s.url in source.feeds]
        failing = sorted((s for s in states if s.failures), key=lambda s: -s.failures)
        retry_at = max((t for s in states if (t := backoff_until(s))), default=None)
        seen = index.seen_times(source.slug, GAP_HISTORY + 1)
        gap = usual_gap(seen)
        rows.append(
            SourceHealth(
                slug=source.slug,
                name=source.name,
                enabled=source.enabled,
                feeds=source.feeds,
                articles=counts.get(source.slug, 0),
                last_success_ms=max((s.last_success_ms for s in states if s.last_success_ms), default=None),
                last_error_ms=failure_ms,
                last_error=error,
                failing_feeds=tuple(s.url for s in states if s.failures),
                consecutive_failures=max((s.failures for s in states), default=0),
                next_try_ms=retry_at if retry_at is not None and retry_at > now else None,
                current_error="; ".join(s.last_error for s in failing if s.last_error) or None,
                last_new_ms=seen[0] if seen else None,
                articles_24h=index.count_seen_since(source.slug, now - DAY_MS),
                usual_gap_ms=gap,
                stale=source.enabled and is_stale(seen[0] if seen else None, gap, now),
            )
        )
    for slug in sorted(set(counts) - configured):  # imported outlets that are not configured
        seen = index.seen_times(slug, 1)
        rows.append(
            SourceHealth(
                slug=slug,
                name=slug,
                enabled=False,
                feeds=(),
                articles=counts[slug],
                last_success_ms=None,
                last_error_ms=None,
                last_error=None,
                failing_feeds=(),
                consecutive_failures=0,
                last_new_ms=seen[0] if seen else None,
                articles_24h=index.count_seen_since(slug, now - DAY_MS),
            )
        )
    return rows


# health.json and health.md -------------------------------------------------------------------


def health_json(rows: list[SourceHealth], now_ms: int) -> str:
    data = {"generated_ms": now_ms, "generated_at": iso(now_ms), "sources": [row.to_json() for row in rows]}
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def status(row: SourceHealth) -> str:
    flags = []
    if row.failing:
        flags.append("失败 failing")
    if row.stale:
        flags.append("停更 stale")
    if flags:
        return "⚠ " + ", ".join(flags)
    return "" if row.enabled else "停用 disabled"


def failures(row: SourceHealth) -> str:
    """``3 × <the last error>``, the error cut to a readable length; empty when no feed is failing."""
    if not row.failing:
        return ""
    error = " ".join((row.current_error or row.last_error or "").split())
    if len(error) > ERROR_CHARS:
        error = error[: ERROR_CHARS - 1] + "…"
    return f"{row.consecutive_failures} × {error}".strip()


HEALTH_COLUMNS = (
    "状态 Status",
    "新闻源 Outlet",
    "上次成功 Last success",
    "最新文章 Last new article",
    "24 小时新文章 New in 24 h",
    "连续失败 Failures",
    "下次尝试 Next try",
)


def health_cells(row: SourceHealth) -> tuple[str, ...]:
    """One outlet as plain text cells under ``HEALTH_COLUMNS`` (times in Beijing time)."""
    return (
        status(row),
        f"{row.name} ({row.slug})",
        beijing(row.last_success_ms),
        beijing(row.last_new_ms),
        str(row.articles_24h),
        failures(row),
        beijing(row.next_try_ms) if row.next_try_ms else "",
    )


def markdown_cell(text: str) -> str:
    """Text that stays inside one cell of a GitHub Markdown table and shows as written: line breaks fold to a
    space, and ``|`` and the characters that would start a link, emphasis, code, HTML or an entity are escaped."""
    text = " ".join(text.split())
    return "".join("\\" + c if c in "\\|`*_[]<>~&" else c for c in text)


def health_markdown(rows: list[SourceHealth], now_ms: int) -> str:
    lines = [
        "# 新闻源状态 Outlet health",
        "",
        f"更新于 Updated {beijing(now_ms)} 北京时间 (UTC+8); 机器可读 machine-readable: [health.json](health.json)",
        "",
        "| " + " | ".join(HEALTH_COLUMNS) + " |",
        "| " + " | ".join("---:" if column.startswith("24") else "---" for column in HEALTH_COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in health_cells(row)) + " |" for row in rows]
    lines += [
        "",
        f"⚠ 停更 stale: 超过其通常间隔的 {STALE_FACTOR} 倍 (至少 {STALE_MIN_MS // HOUR_MS} 小时) 没有新文章;"
        f" no new article for longer than {STALE_FACTOR} × its usual gap (at least {STALE_MIN_MS // HOUR_MS} h)."
        " 失败的新闻源稍后重试, 从不放弃; failing feeds are tried again later, never dropped.",
    ]
    return "\n".join(lines) + "\n"


def write_health(archive: Store, now_ms: int) -> bool:
    """Write ``health.json`` and ``health.md`` into the archive root, atomically and only when their bytes
    change. The caller holds the lock. Returns whether anything was written."""
    rows = source_health(archive, now_ms)
    root = archive.root
    batch = archive.batch()
    written = False
    for name, text in ((HEALTH_JSON, health_json(rows, now_ms)), (HEALTH_MD, health_markdown(rows, now_ms))):
        (root / (name + TMP_SUFFIX)).unlink(missing_ok=True)  # left by a run killed while writing it
        written = write_if_changed(root / name, text.encode("utf-8"), batch) or written
    batch.commit()
    return written
