"""`check`: the whole archive against its index and back, and with ``repair`` what can be fixed, fixed.

Read: every article file and revision (parsed, their text's fingerprint, date and link compared with the index,
see ``store/damage.py``), article files the index does not know, the lists and README.md (as the index would write
them), every stored image (its SHA-256 against its name), every WARC file from its first byte to its last (each
record's gzip checksum; damage in the middle is found, not only a torn end) with the captures the index places in
them, and the search index (it opens, and holds a document per article). Without ``repair`` nothing is written.

Repairs: damaged articles restored from a copy the archive keeps (feeds are not fetched: the next ``update`` restores
from them), unknown article files indexed, lists rewritten, damaged images removed and downloaded again by the next
update, WARC files rewritten with their whole records (the damaged file kept in .newsarchive/damaged/), the search
index rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .index.search import search_present
from .store import layout
from .store.damage import DAMAGED_DIR, restore_from_copies, scan

if TYPE_CHECKING:
    from .store.store import Store


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One thing wrong: where, what, and what ``--repair`` did about it (None: nothing could be done here)."""

    part: str  # articles | revisions | lists | media | warc | search | journal
    path: str
    problem: str
    repaired: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"part": self.part, "path": self.path, "problem": self.problem, "repaired": self.repaired}


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    checked: dict[str, int] = field(default_factory=dict)  # what was read: articles, revisions, lists, images, WARC …
    findings: tuple[Finding, ...] = ()
    repair: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing is wrong any more: all was well, or every finding was repaired."""
        return all(finding.repaired is not None for finding in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "repair": self.repair,
            "checked": self.checked,
            "findings": [finding.to_json() for finding in self.findings],
            "seconds": round(self.seconds, 3),
        }


def check(archive: Store, *, repair: bool = False) -> CheckReport:
    """Check the whole archive; with ``repair``, under the archive's lock, fix what can be fixed."""
    started = time.monotonic()
    checked: dict[str, int] = {}
    findings: list[Finding] = []
    if journal := archive.index.journal_items():
        problem = f"a run was interrupted with {len(journal)} files in flight; the next `update` completes it"
        findings.append(Finding(part="journal", path=layout.INDEX_FILE, problem=problem, repaired="completed" if repair else None))
    if repair:
        with archive.lock():
            archive.recover()
            findings += _check(archive, checked, repair=True)
    else:
        findings += _check(archive, checked, repair=False)
    return CheckReport(checked=checked, findings=tuple(findings), repair=repair, seconds=time.monotonic() - started)


def _check(archive: Store, checked: dict[str, int], *, repair: bool) -> list[Finding]:
    findings = _files(archive, checked, repair)
    findings += _lists(archive, checked, repair)
    findings += _media(archive, checked, repair)
    findings += _warc(archive, checked, repair)
    findings += _search(archive, checked, repair)
    return findings


def _files(archive: Store, checked: dict[str, int], repair: bool) -> list[Finding]:
    index = archive.index
    checked["articles"] = sum(index.counts().values())
    checked["revisions"] = sum(1 for _ in index.file_rows("revisions"))
    damages = scan(archive, full=True, record=repair)
    restored = restore_from_copies(archive, [d for d in damages if d.path.startswith(layout.ARTICLES + "/")]) if repair else {}
    findings = []
    for damage in damages:
        how = restored.get(damage.path)
        part = "revisions" if damage.path.startswith(layout.REVISIONS + "/") else "articles"
        note = "" if how or part == "revisions" else "; the next `update` restores it if its feed still carries it"
        findings.append(Finding(part=part, path=damage.path, problem=damage.problem + note, repaired=how and f"restored from {how}"))
    strays = _unknown_articles(archive)
    if strays and repair:
        from .store.importing import Indexer

        with index.atomic():
            Indexer(archive, copy=False, on_progress=None).refresh(strays)
        archive.refresh_lists({path.split("/")[1] for path in strays} & set(index.sources_present()))
    known = index.paths_in(layout.ARTICLES + "/") if strays and repair else set()
    unknown = "an article file the index does not know"
    findings += [Finding(part="articles", path=path, problem=unknown, repaired="indexed" if path in known else None) for path in strays]
    return findings


def _unknown_articles(archive: Store) -> list[str]:
    folder = archive.root / layout.ARTICLES
    if not folder.is_dir():
        return []
    known = archive.index.paths_in(layout.ARTICLES + "/")
    found = []
    for outlet in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if outlet.is_dir():
            prefix = f"{layout.ARTICLES}/{outlet.name}/"
            found += sorted(prefix + e.name for e in os.scandir(outlet.path) if e.name.endswith(".md") and prefix + e.name not in known)
    return found


def _lists(archive: Store, checked: dict[str, int], repair: bool) -> list[Finding]:
    slugs = archive.index.sources_present()
    expected = archive.list_files(slugs)
    # An outlet not in the configuration (an update with --sources) has a list named as that run named it: not judged.
    unknown = {archive.source_name(slug) for slug in slugs if archive.settings.source(slug) is None}
    expected = {path: data for path, data in expected.items() if path != "README.md" or not unknown}
    expected = {path: data for path, data in expected.items() if path.removeprefix("lists/").removesuffix(".md") not in unknown}
    checked["lists"] = len(expected)
    wrong = []
    for path, data in expected.items():
        try:
            same = (archive.root / path).read_bytes() == data
        except FileNotFoundError:
            wrong.append((path, "missing"))
            continue
        except OSError as exc:
            wrong.append((path, f"cannot be read: {exc.strerror}"))
            continue
        if not same:
            wrong.append((path, "not what the index lists"))
    if wrong and repair:
        archive.refresh_lists(slugs)
    return [Finding(part="lists", path=path, problem=problem, repaired="written again" if repair else None) for path, problem in wrong]


def _media(archive: Store, checked: dict[str, int], repair: bool) -> list[Finding]:
    from .index.images import media_path

    index = archive.index
    stored = index.stored_media()
    checked["images"] = len(stored)
    findings = []
    for sha256, ext in stored:
        path = media_path(sha256, ext)
        problem = _image_problem(archive.root / path, sha256)
        if problem is None:
            continue
        repaired = None
        if repair:
            if (archive.root / path).is_file():
                (archive.root / path).unlink()
                archive.published([archive.root / path])
            with index.atomic():
                index.fetch_media_again(sha256, f"{path} was {problem}")
            repaired = "removed; the next `update` downloads it again"
        findings.append(Finding(part="media", path=path, problem=problem, repaired=repaired))
    return findings


def _image_problem(path: Path, sha256: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    return None if digest.hexdigest() == sha256 else "damaged: its bytes are not those its name is the SHA-256 of"


def _warc(archive: Store, checked: dict[str, int], repair: bool) -> list[Finding]:
    from .store.warc import reindex_file, salvage, scan_file

    index, root = archive.index, archive.root
    folder = root / layout.WARC_DIR
    files = sorted(f"{layout.WARC_DIR}/{p.name}" for p in folder.glob("*.warc.gz")) if folder.is_dir() else []
    checked["warc_files"] = len(files)
    checked["warc_records"] = 0
    findings = [
        Finding(part="warc", path=file, problem="missing: the index places captures in it")
        for file in index.capture_files()
        if file not in files
    ]
    for file in files:
        whole, damaged = scan_file(root / file)
        checked["warc_records"] += len(whole)
        starts = {start for start, _ in whole}
        lost = [offset for offset in index.capture_offsets(file) if offset not in starts]
        if not damaged and not lost:
            continue
        stretches = ", ".join(f"bytes {start:,}-{end:,}" for start, end in damaged) or "none"
        problem = f"cannot be read at {stretches}; {len(lost)} captures the index knows are not whole records there"
        repaired = None
        if repair and damaged:
            aside = root / DAMAGED_DIR / f"{file}.{int(time.time() * 1000)}"
            salvage(root, file, whole, index, aside)
            repaired = f"rewritten with its {len(whole)} whole records; the damaged file kept as {aside.relative_to(root)}"
        elif repair:
            reindex_file(root, file, index)
            repaired = "its captures indexed again"
        findings.append(Finding(part="warc", path=file, problem=problem, repaired=repaired))
    return findings


def _search(archive: Store, checked: dict[str, int], repair: bool) -> list[Finding]:
    folder = archive.root / layout.SEARCH_DIR
    # With search.index_on_update off, runs leave the search index behind on purpose: not a fault. Repairing
    # catches it up, as the first search would; checking only asks that what it holds can be read.
    behind = not archive.settings.search.index_on_update and archive.search_behind()
    if behind and repair:
        archive.sync_search()
        behind = False
    articles = sum(archive.index.counts().values())
    problem = None
    documents = 0
    if not search_present(folder):
        indexed = archive.index.meta("search:rowid") not in (None, "0")
        problem = "missing" if articles and (indexed or not behind) else None
    else:
        try:
            documents = archive.search_index.documents()
        except (ValueError, OSError) as exc:  # tantivy's words for a damaged index
            problem = f"cannot be read: {exc}"
        else:
            if documents != articles and not behind:
                problem = f"holds {documents:,} documents for {articles:,} articles"
    checked["search_documents"] = documents
    if problem is None:
        return []
    repaired = None
    if repair:
        archive.sync_search(rebuild=True)
        repaired = "rebuilt from the articles"
    return [Finding(part="search", path=layout.SEARCH_DIR, problem=problem, repaired=repaired)]
