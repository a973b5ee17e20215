"""What the store's own parts (damage.py, importing.py, takedowns.py) use of the store: its folder, settings, index,
the article files and the lists. A protocol, so that those parts sit below ``Store`` (store.py), which uses them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ..config import Settings
from ..index.backend import IndexBackend
from ..index.rows import ArticleRow
from .atomic import AtomicBatch
from .fileformat import ArticleFile

StrPath = str | os.PathLike[str]  # every path the API takes: a str or any path-like object


class ArchiveFolder(Protocol):
    @property
    def root(self) -> Path: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def index(self) -> IndexBackend: ...

    def read(self, row: ArticleRow | StrPath) -> ArticleFile: ...

    def refresh_lists(self, slugs: Iterable[str]) -> list[str]: ...

    def batch(self) -> AtomicBatch: ...
