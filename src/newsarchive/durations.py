"""Durations as users write them: "10m", "1h30m", "6h", "1d", "90s" or a plain number of seconds."""

from __future__ import annotations

import math
import re

from .errors import ConfigError

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str, *, what: str = "--every") -> float:
    """Seconds in "1d", "1h", "30m", "90s", "1h30m" or a plain number of seconds; ``what`` names the setting in errors."""
    value = str(text).strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        match = _DURATION.match(value)
        if not value or not match:
            raise ConfigError(f"{what} {text!r} is not a duration", hint="write it like 1d, 6h, 30m, 90s or 1h30m") from None
        days, hours, minutes, secs = (float(part) if part else 0.0 for part in match.groups())
        seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
    if not math.isfinite(seconds):  # float() reads "inf" and "nan" too
        raise ConfigError(f"{what} {text!r} is not a duration", hint="write it like 1d, 6h, 30m, 90s or 1h30m")
    if seconds <= 0:
        raise ConfigError(f"{what} {text!r} must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest of "1d", "6h", "1h30m", "10m", "90s" for ``seconds`` (whole seconds; parse_duration reads it back)."""
    left, text = round(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            count, left = divmod(left, size)
            text += f"{count}{unit}"
    return text or "0s"
