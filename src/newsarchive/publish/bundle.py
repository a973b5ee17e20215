"""``newsarchive bundle``: the archive for readers who cannot reach any mirror, as one zip file.

The zip holds the static site at its top (``index.html`` opens from a USB stick, search included, no
server) and the raw archive under ``archive/`` (the Markdown files, lists, README, health). With
``since_ms``, only the articles published since then go in: they are linked into a scratch archive
that is indexed and given its own lists and site, so the bundle is a complete small archive. The zip is
written beside its target and renamed when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..store import layout
from ..store.store import Store
from .site import SITE_MARK, build_site

RAW = ("README.md", layout.CONFIG_FILE, "health.json", "health.md", layout.LISTS, layout.ARTICLES, layout.REVISIONS)
SITE_CACHE = f"{layout.HIDDEN}/bundle-site"  # the full bundle's site, rebuilt incrementally
READ_ME = """newsarchive bundle

Unzip this file (onto a USB stick, for example) and open index.html in a browser: the articles, the lists
of each outlet and the search all work with no network and no server. The archive's own files, in the
duty-machine/news Markdown format, are in archive/.

解压此文件，然后用浏览器打开 index.html：无需网络和服务器即可阅读和搜索。原始存档文件在 archive/ 中。
"""
MIRRORS = """
镜像 Mirrors: 这个存档也可以在这些地方阅读 this archive can also be read at:

"""


@dataclass(frozen=True, kw_only=True)
class BundleReport:
    path: str
    articles: int
    files: int
    bytes: int
    seconds: float


def _files(root: Path, names: tuple[str, ...]) -> Iterator[Path]:
    for name in names:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _partial_archive(archive: Store, root: Path, since_ms: int) -> Store:
    """A scratch archive with the articles published since ``since_ms`` and their earlier versions."""
    if (archive.root / layout.CONFIG_FILE).exists():
        shutil.copy2(archive.root / layout.CONFIG_FILE, root / layout.CONFIG_FILE)
    partial = Store.init(root)
    partial.settings = archive.settings
    for row in archive.articles():
        if (row.pub_ms or 0) < since_ms:
            continue
        _link_or_copy(archive.root / row.path, root / row.path)
        for revision, _, _ in archive.index.revisions(row.rowid):
            _link_or_copy(archive.root / revision, root / revision)
    partial.reindex()
    partial.refresh_lists(partial.index.sources_present())
    return partial


def bundle(archive: Store, out: Path, *, since_ms: int | None = None) -> BundleReport:
    """Write the bundle of ``archive`` (or of its articles published since ``since_ms``) to ``out``."""
    started = time.monotonic()
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=out.parent) as scratch:
        work = Path(scratch)
        if since_ms is None:
            source, site = archive, archive.root / SITE_CACHE
        else:
            (work / "archive").mkdir()
            source, site = _partial_archive(archive, work / "archive", since_ms), work / "site"
        try:
            build_site(source, site)
            articles = sum(source.index.counts().values())
        finally:
            if source is not archive:
                source.close()
        partial_zip = work / "bundle.zip"
        files = 0
        with zipfile.ZipFile(partial_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zipped:
            mirrors = [f"{mirror.name}: {mirror.read_url}\n" for mirror in archive.settings.mirrors if mirror.read_url]
            zipped.writestr("README.txt", READ_ME + (MIRRORS + "".join(mirrors) if mirrors else ""))
            for path in sorted(p for p in site.rglob("*") if p.is_file() and p.name != SITE_MARK):
                zipped.write(path, path.relative_to(site).as_posix())
                files += 1
            for path in _files(source.root, RAW):
                zipped.write(path, "archive/" + path.relative_to(source.root).as_posix())
                files += 1
        os.replace(partial_zip, out)
    return BundleReport(path=str(out), articles=articles, files=files, bytes=out.stat().st_size, seconds=time.monotonic() - started)
