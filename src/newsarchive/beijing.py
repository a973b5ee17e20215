"""Times as people read them: Beijing time (UTC+8), the one zone of all human output, as the outlets'
readers and the duty-machine lists count days. Machine output (JSON, WARC, Atom) stays in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
ZONE = "Beijing time"  # how human output names it, where a time is shown


def beijing(ms: int | None, *, named: bool = False) -> str:
    """``2026-06-01 18:30`` (Beijing time, to the minute), with `` Beijing time`` when ``named``; ``-`` for None."""
    if ms is None:
        return "-"
    shown = datetime.fromtimestamp(ms / 1000, UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return f"{shown} {ZONE}" if named else shown
