"""Times as shown: to people in Beijing time (UTC+8), the one zone of all human output, as the outlets' readers
and the duty-machine lists count days; to programs (JSON) in milliseconds and ISO 8601 UTC."""

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


def iso(ms: int | None) -> str | None:
    """ISO 8601 in UTC, to the second: 2026-06-01T12:00:00Z."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
