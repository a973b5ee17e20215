"""``newsarchive build-site``: the reader's pages as static HTML, with Atom feeds, a sitemap and a search
that needs no server.

Incremental: a state database remembers what each page was made from (the article's fingerprint, its versions,
the templates), so a rebuild renders only the pages whose inputs changed and writes only files whose bytes differ;
pages of articles no longer in the archive are removed. The state lives in the archive's hidden folder, never in
the site (it holds every article's search tokens: hundreds of MB that must not be published with it), tied to
the site's folder by the mark file ``OUT/.newsarchive-site``.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from ..config import SiteConfig
from ..errors import ArticleFileError, PublishError
from ..html import plain_text
from ..index import ArticleRow
from ..store import layout
from ..store.store import Store
from ..times import OFFSET_MS
from ..web import digest, status
from ..web.pages import HOME, SEARCH, STATIC_FILES, Pages, diff_pages, digest_href, outlet_href, page_of
from . import feeds, searchstate, sitesearch

log = logging.getLogger(__name__)

SITE_MARK = ".newsarchive-site"  # in the site's folder: which state in the archive is this folder's
LEGACY_STATE = ".newsarchive-site.sqlite"  # where the state was kept before: inside the site, so published with it
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (page TEXT PRIMARY KEY, signature TEXT NOT NULL);
DROP TABLE IF EXISTS docs;
"""


@dataclass(frozen=True, kw_only=True)
class SiteReport:
    written: int  # files created or changed
    unchanged: int  # files or pages left as they were
    removed: int
    seconds: float


def _design_version(site: SiteConfig, title: str) -> str:
    """Changes whenever every page must be made again: templates, style, settings, search cutting."""
    digest = hashlib.sha256(repr((site, title, sitesearch.FORMAT)).encode())
    package = resources.files("newsarchive.web")
    for folder in ("templates", "static"):
        for item in sorted(package.joinpath(folder).iterdir(), key=lambda i: i.name):
            digest.update(item.name.encode() + item.read_bytes())
    return digest.hexdigest()[:16]


class _Output:
    """Writes files under the site folder only when their bytes change; counts what it did."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written = self.unchanged = self.removed = 0

    def write(self, path: str, data: bytes) -> None:
        target = self.root / path
        try:
            if target.read_bytes() == data:
                self.unchanged += 1
                return
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
        self.written += 1

    def remove(self, path: str) -> None:
        (self.root / path).unlink(missing_ok=True)
        self.removed += 1


def build_site(archive: Store, out: Path, *, base_url: str | None = None, on_progress: Callable[[int], None] | None = None) -> SiteReport:
    """Build (or bring up to date) the static site of ``archive`` in ``out``."""
    started = time.monotonic()
    if base_url is not None:
        archive.settings = replace(archive.settings, site=replace(archive.settings.site, base_url=base_url.rstrip("/") + "/"))
    out = out.resolve()
    inside = out.relative_to(archive.root).parts if archive.root in out.parents else ()
    if out == archive.root or inside[:1] in (("articles",), ("lists",), ("revisions",)) or inside == (layout.HIDDEN,):
        raise PublishError(f"{out}: the site cannot be built inside the archive's own folders", hint="give a folder of its own, e.g. site/")
    out.mkdir(parents=True, exist_ok=True)
    state = _open_state(archive.root, out)
    try:
        state.executescript(_SCHEMA)
        if searchstate.create_tables(state):  # the search's entries of an older newsarchive: every article again
            state.execute("DELETE FROM pages")
        output = _Output(out)
        pages = Pages(archive, static=True)
        version = _design_version(archive.settings.site, archive.settings.title)
        with state:
            _article_pages(archive, pages, state, output, version, on_progress)
            _outlet_pages(archive, pages, state, output, version)
            _digest_pages(archive, pages, state, output, version)
        for name in STATIC_FILES:
            output.write(f"static/{name}", resources.files("newsarchive.web").joinpath("static", name).read_bytes())
        output.write(HOME, pages.home().encode())
        output.write(SEARCH, pages.search().encode())
        output.write(status.HEALTH, status.health_page(pages, archive.index.last_run_ms()).encode())  # as of the last update
        output.write(status.TAKEDOWNS, status.takedowns_page(pages).encode())
        output.write("404.html", pages.not_found("404.html", base=archive.settings.site.base_url).encode())
        outlets = {row["slug"]: row["name"] for row in pages.outlets()}
        for name in ["all", *outlets]:
            feed = feeds.atom_feed(archive, name)
            if feed is not None:
                output.write(f"feeds/{name}.xml", feed)
        output.write(status.TAKEDOWNS_FEED, feeds.takedowns_feed(archive))
        output.write(digest.DIGEST_FEED, feeds.digest_feed(archive))
        for name, data in feeds.sitemaps(archive, _site_pages(state)).items():
            output.write(name, data)
        searchstate.write_search_files(state, out, output.write, output.remove, outlets)
        output.write(".nojekyll", b"")  # GitHub Pages: serve the folders as they are
    finally:
        state.close()
    return SiteReport(written=output.written, unchanged=output.unchanged, removed=output.removed, seconds=time.monotonic() - started)


def _open_state(root: Path, out: Path) -> sqlite3.Connection:
    """The build state of the site in ``out``: ``.newsarchive/sites/<key of the folder>.sqlite``. A folder without
    its mark (new, emptied, or made by an older newsarchive) starts from a fresh state, so that no page is taken
    for written when it is not there."""
    key = hashlib.sha256(os.fsencode(out)).hexdigest()[:32]
    path = root / layout.HIDDEN / "sites" / f"{key}.sqlite"
    mark = out / SITE_MARK
    try:
        marked = mark.read_text(encoding="utf-8").strip() == key
    except (OSError, UnicodeDecodeError):
        marked = False
    if not marked:
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), out / LEGACY_STATE):
            stale.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        mark.write_text(key + "\n", encoding="utf-8")
    return sqlite3.connect(path)


def _article_pages(
    archive: Store, pages: Pages, state: sqlite3.Connection, output: _Output, version: str, on_progress: Callable[[int], None] | None
) -> None:
    """Write the pages of articles (with their earlier versions and the changes between them) whose inputs changed,
    remove those of articles that left; note in the state what changed for the search files (searchstate.py)."""
    known = dict(state.execute("SELECT page, signature FROM pages"))
    numbers = dict(state.execute("SELECT path, number FROM search_docs"))
    next_number = max(numbers.values(), default=-1) + 1
    seen: set[str] = set()
    images = archive.index.local_images_by_article()  # a newly downloaded image re-renders its article's pages
    removed = {row.rowid: (first_ms, how) for row, first_ms, _, how, *_ in archive.index.takedowns()}  # the banner (recheck.py)
    _copy_media(archive, output, {path for found in images.values() for _, path in found})
    for done, row in enumerate(archive.articles(), 1):
        versions = archive.index.revisions(row.rowid)
        name = archive.source_name(row.source)
        inputs = (version, row.fingerprint, row.title, row.updated_ms, name, versions, images.get(row.rowid, []), removed.get(row.rowid))
        signature = hashlib.sha256(repr(inputs).encode()).hexdigest()[:24]
        page = page_of(row.path)
        # the changes from each version to the next too; Pages.article renders those as well
        targets = [page, *(page_of(path) for path, _, _ in versions), *diff_pages(row, versions)]
        seen.update(targets)
        if on_progress and done % 1000 == 0:
            on_progress(done)
        if all(known.get(target) == signature and (output.root / target).exists() for target in targets):
            output.unchanged += len(targets)
            continue
        entry = _search_entry(archive, row, numbers.get(row.path, next_number))
        if entry is None:
            continue
        next_number += row.path not in numbers
        for target in targets:
            html = pages.article(target)
            if html is not None:
                output.write(target, html.encode())
                state.execute("INSERT OR REPLACE INTO pages (page, signature) VALUES (?, ?)", (target, signature))
        searchstate.put(state, row.path, entry)
    for page in set(known) - seen:
        if page.startswith(("articles/", "revisions/")):
            output.remove(page)
            state.execute("DELETE FROM pages WHERE page = ?", (page,))
            searchstate.drop(state, page)


def _search_entry(archive: Store, row: ArticleRow, number: int) -> sitesearch.SearchEntry | None:
    try:
        body = archive.read(row).body
    except (OSError, ArticleFileError, UnicodeDecodeError) as exc:
        log.warning("%s: left out of the site: %s", row.path, exc)
        return None
    tokens, counts = sitesearch.entry_tokens(row.title, plain_text(body))
    return sitesearch.SearchEntry(
        number=number,
        page=page_of(row.path),
        title=row.title,
        source=row.source,
        pub_ms=row.pub_ms or 0,
        seen_ms=row.first_seen_ms or 0,
        tokens=tokens,
        counts=counts,
    )


def _outlet_pages(archive: Store, pages: Pages, state: sqlite3.Connection, output: _Output, version: str) -> None:
    size = archive.settings.site.page_size
    known = dict(state.execute("SELECT page, signature FROM pages WHERE page LIKE 'outlets/%'"))
    seen: set[str] = set()
    counts = archive.index.counts()
    for slug, count in counts.items():
        rows = archive.index.oldest_first(slug, 0, -1)
        total = max(1, -(-len(rows) // size))
        for number in range(1, total + 1):
            chunk = rows[(number - 1) * size : number * size]
            target = outlet_href(slug, number)
            seen.add(target)
            signature = hashlib.sha256(
                repr((version, archive.source_name(slug), number < total, [(r.path, r.title, r.pub_ms) for r in chunk])).encode()
            )
            signature_text = signature.hexdigest()[:24]
            if known.get(target) == signature_text and (output.root / target).exists():
                output.unchanged += 1
            else:
                output.write(target, pages.outlet_page(slug, number, chunk, pages=total, count=count).encode())
                state.execute("INSERT OR REPLACE INTO pages (page, signature) VALUES (?, ?)", (target, signature_text))
            if number == total:  # the newest page again, at index.html, with the outlet's count
                output.write(outlet_href(slug), pages.outlet_page(slug, None, chunk, pages=total, count=count).encode())
                seen.add(outlet_href(slug))
                state.execute("INSERT OR REPLACE INTO pages (page, signature) VALUES (?, '')", (outlet_href(slug),))
    for page in set(known) - seen:
        output.remove(page)
        state.execute("DELETE FROM pages WHERE page = ?", (page,))


def _digest_pages(archive: Store, pages: Pages, state: sqlite3.Connection, output: _Output, version: str) -> None:
    """A page per day with articles (rendered again only when that day's articles, or its neighbours, changed), the
    list of days; the pages of days left with no article are removed. Reads the articles once, a day at a time."""
    known = dict(state.execute("SELECT page, signature FROM pages WHERE page LIKE 'digest/%'"))
    days = archive.index.days(OFFSET_MS)  # newest first
    order = [day for day, _ in days]
    older = dict(itertools.pairwise(order))
    newer = {old: new for new, old in older.items()}
    names = {slug: archive.source_name(slug) for slug in archive.index.counts()}
    seen = {digest.DIGEST_INDEX}
    for day, rows in digest.by_day(archive.index.by_publication()):
        target = digest_href(day)
        seen.add(target)
        inputs = (version, names, newer.get(day), older.get(day), [(r.path, r.title, r.pub_ms, r.source, r.rowid) for r in rows])
        signature = hashlib.sha256(repr(inputs).encode()).hexdigest()[:24]
        if known.get(target) == signature and (output.root / target).exists():
            output.unchanged += 1
            continue
        output.write(target, digest.day_page(pages, day, rows, newer=newer.get(day), older=older.get(day)).encode())
        state.execute("INSERT OR REPLACE INTO pages (page, signature) VALUES (?, ?)", (target, signature))
    output.write(digest.DIGEST_INDEX, digest.index_page(pages, days).encode())
    state.execute("INSERT OR REPLACE INTO pages (page, signature) VALUES (?, '')", (digest.DIGEST_INDEX,))
    for page in set(known) - seen:
        output.remove(page)
        state.execute("DELETE FROM pages WHERE page = ?", (page,))


def _site_pages(state: sqlite3.Connection) -> Iterator[str]:
    yield HOME
    for (page,) in state.execute("SELECT page FROM pages ORDER BY page"):
        yield page


def _copy_media(archive: Store, output: _Output, wanted: set[str]) -> None:
    """Put the images articles show into OUT/media/ (hard links where the file system allows, else copies) and
    remove those no article shows any more. Names are content hashes: a file that is there is the right one."""
    for path in sorted(wanted):
        target = output.root / path
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.unlink(missing_ok=True)
        try:
            try:
                os.link(archive.root / path, temporary)
            except OSError:  # another file system, or no hard links: copy
                shutil.copyfile(archive.root / path, temporary)
        except FileNotFoundError:  # pruned or lost meanwhile: the page shows the original address
            log.info("%s: not in the archive; the site links the original", path)
            continue
        os.replace(temporary, target)
        output.written += 1
    folder = output.root / "media"
    if folder.is_dir():
        for file in folder.rglob("*"):
            if file.is_file() and file.relative_to(output.root).as_posix() not in wanted:
                output.remove(file.relative_to(output.root).as_posix())
