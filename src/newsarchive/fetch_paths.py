"""Feed addresses that are local files: ``file://`` URLs and plain paths."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit


def is_local_path(address: str) -> bool:
    return "://" not in address and not address.startswith(("http:", "https:"))


def local_path(address: str) -> Path:
    if address.startswith("file:"):
        return Path(unquote(urlsplit(address).path))
    return Path(address).expanduser()
