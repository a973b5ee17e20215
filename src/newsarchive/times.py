"""Times as shown: to people in Beijing time (UTC+8), the one zone of all human output, as the outlets' readers
and the duty-machine lists count days; to programs (JSON) in milliseconds and ISO 8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
ZONE = "Beijing time"  # how human output names it, where a time is shown
OFFSET_MS = 8 * 3600 * 1000  # Beijing time ahead of UTC: the lists and the digest count days in it
DAY_MS = 24 * 3600 * 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def day_of(ms: int) -> int:
    """The day (counted from 1970-01-01, Beijing time) of a time in ms; as ``Index.days`` counts them."""
    return (ms + OFFSET_MS) // DAY_MS


def day_name(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")


def day_number(name: str) -> int | None:
    """The day of a YYYY-MM-DD name, or None when it is not a date."""
    try:
        return (datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC) - _EPOCH).days
    except ValueError:
        return None


def day_start_ms(day: int) -> int:
    return day * DAY_MS - OFFSET_MS
