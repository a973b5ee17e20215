"""The static site's search files, kept up to date from the site's state database (``.newsarchive/sites/``).

Besides each article's tokens (``search_docs``), the state keeps each year's posting lists as written, a row per
shard (``search_shards``: per token the base64 value with its length in bits, count, Rice parameter and last
article, and the counts the shard holds), and each year's articles, shards and size (``search_years``). The build
notes what changed in ``search_pending``: an article added, one changed in place (with what it was), or a whole
year to make again.

A year's articles are numbered in the order the archive first had them, then by time and path (``ORDER``), so new
articles come last. A year whose changes are new articles and articles changed in place is brought up to date from
its lists: a new article's postings are appended to the bits already there, the lists of a changed article's tokens
are coded again, and so are those whose Rice parameter moves with the year's count; only the shards holding them,
the year's ``w.js`` and the documents files of the changed articles are written (all shards when their number
changes). Their bytes are those of a whole build: the tests compare the two. A year that loses an article, or whose
order changes otherwise, is made again in full from ``search_docs``, as it is when its files or lists are missing.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from . import sitesearch
from .sitesearch import DOCS_PER_FILE, Document, PostingList, SearchEntry

# search_docs: each article's search entry (its tokens with their counts), from which a year's search files are made.
SCHEMA = """
CREATE TABLE IF NOT EXISTS search_docs (
    path TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, page TEXT NOT NULL, title TEXT NOT NULL,
    source TEXT NOT NULL, pub_ms INTEGER NOT NULL, seen_ms INTEGER NOT NULL, year INTEGER NOT NULL, tokens BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS search_docs_order ON search_docs (year, seen_ms, pub_ms, path);
CREATE TABLE IF NOT EXISTS search_shards (
    year INTEGER NOT NULL, shard INTEGER NOT NULL, lists TEXT NOT NULL, counts TEXT NOT NULL, PRIMARY KEY (year, shard)
);
CREATE TABLE IF NOT EXISTS search_years (
    year INTEGER PRIMARY KEY, articles INTEGER NOT NULL, shards INTEGER NOT NULL, size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS search_pending (
    year INTEGER NOT NULL, number INTEGER NOT NULL, tokens BLOB, title TEXT, pub_ms INTEGER, seen_ms INTEGER,
    PRIMARY KEY (year, number)
);
"""
WHOLE = -1  # search_pending.number: the year is made again in full
ORDER = "ORDER BY seen_ms, pub_ms, path"  # of a year's articles: their local numbers, new articles last
Before = tuple[bytes, str, int, int]  # an article changed in place: its tokens, title, time and when first seen before
Write = Callable[[str, bytes], None]


def create_tables(state: sqlite3.Connection) -> bool:
    """Make the search's tables where missing; True when those of an older newsarchive were dropped (then every
    article's entry must be put again)."""
    columns = {name for _, name, *_ in state.execute("PRAGMA table_info(search_docs)")}
    older = bool(columns) and "seen_ms" not in columns
    if older:
        state.executescript("DROP TABLE search_docs; DROP TABLE IF EXISTS search_years;")
    state.executescript(SCHEMA)
    return older


def put(state: sqlite3.Connection, path: str, entry: SearchEntry) -> None:
    """Keep an article's entry, noting what it changes: an article added, one changed in place (with its tokens and
    title before; the first change noted is kept, as the lists are as they were before it), or an article moved to
    another year, whose two years are made again."""
    year, packed = sitesearch.year_of(entry.pub_ms), sitesearch.pack_tokens(entry.tokens, entry.counts)
    query = "SELECT year, tokens, title, pub_ms, seen_ms, source FROM search_docs WHERE path = ?"
    old = state.execute(query, (path,)).fetchone()
    if old is None:
        state.execute("INSERT OR IGNORE INTO search_pending (year, number) VALUES (?, ?)", (year, entry.number))
    elif old[0] != year:
        state.executemany("INSERT OR IGNORE INTO search_pending (year, number) VALUES (?, ?)", [(year, WHOLE), (old[0], WHOLE)])
    elif old[1:] != (packed, entry.title, entry.pub_ms, entry.seen_ms, entry.source):
        state.execute("INSERT OR IGNORE INTO search_pending VALUES (?, ?, ?, ?, ?, ?)", (year, entry.number, *old[1:5]))
    state.execute(
        "INSERT OR REPLACE INTO search_docs (path, number, page, title, source, pub_ms, seen_ms, year, tokens)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (path, entry.number, entry.page, entry.title, entry.source, entry.pub_ms, entry.seen_ms, year, packed),
    )


def drop(state: sqlite3.Connection, page: str) -> None:
    """Forget the entry of the article at ``page``; its year is made again (its later articles' numbers shift)."""
    for (year,) in state.execute("SELECT year FROM search_docs WHERE page = ?", (page,)).fetchall():
        state.execute("INSERT OR IGNORE INTO search_pending (year, number) VALUES (?, ?)", (year, WHOLE))
    state.execute("DELETE FROM search_docs WHERE page = ?", (page,))


def write_search_files(state: sqlite3.Connection, root: Path, write: Write, remove: Callable[[str], None], outlets: dict[str, str]) -> None:
    """Bring ``root``/search/ up to date with ``search_docs``: the years with changes noted (every year when
    meta.js is missing or of another format, or the outlets changed), then t2s.js and meta.js; remove the files
    no year makes any more. ``write`` and ``remove`` take paths under ``root``."""
    folder = root / "search"
    years = dict(state.execute("SELECT year, COUNT(*) FROM search_docs GROUP BY year"))
    sources = [slug for (slug,) in state.execute("SELECT DISTINCT source FROM search_docs ORDER BY source")]
    meta = sitesearch.read_meta(folder / "meta.js")
    everything = meta.get("format") != sitesearch.FORMAT or meta.get("sources") != sources
    kept = dict(state.execute("SELECT year, COUNT(*) FROM search_shards GROUP BY year"))
    made = {year: (articles, shards, size) for year, articles, shards, size in state.execute("SELECT * FROM search_years")}
    known = {year: summary for year, summary in made.items() if kept.get(year) == summary[1]}  # else made in full
    pending: defaultdict[int, dict[int, Before | None]] = defaultdict(dict)
    for year, number, tokens, *before in state.execute("SELECT year, number, tokens, title, pub_ms, seen_ms FROM search_pending"):
        pending[year][number] = None if tokens is None else (tokens, *before)
    summary: dict[int, tuple[int, int]] = {}
    with state:
        for year in sorted(years):
            done = None
            if not everything and year in known and WHOLE not in pending[year] and _complete(folder / str(year), *known[year][:2]):
                done = _update_year(state, year, pending[year], known[year], sources, write, remove) if pending[year] else known[year][:2]
            summary[year] = done or _whole_year(state, year, sources, folder, write, remove)
        for year in (set(made) | set(kept)) - set(years):
            state.execute("DELETE FROM search_shards WHERE year = ?", (year,))
            state.execute("DELETE FROM search_years WHERE year = ?", (year,))
        if folder.is_dir():
            for item in sorted(folder.iterdir()):
                if item.is_dir() and not (item.name.isdigit() and int(item.name) in years):
                    for file in sorted(item.glob("*.js")):
                        remove(file.relative_to(root).as_posix())
        for name, data in sitesearch.meta_files(summary, outlets, sources):
            write(f"search/{name}", data)
        state.execute("DELETE FROM search_pending")


def _complete(folder: Path, articles: int, shards: int) -> bool:
    """Whether the folder of a year holds every file its state says it has."""
    try:
        names = set(os.listdir(folder))
    except OSError:
        return False
    wanted = {f"s{n}.js" for n in range(shards)} | {f"d{n}.js" for n in range(-(-articles // DOCS_PER_FILE))} | {"w.js"}
    return wanted <= names


def _documents(state: sqlite3.Connection, year: int) -> tuple[list[int], list[Document], list[tuple[int, int, str]]]:
    """The numbers of a year's articles in their order, their documents and their order's keys."""
    rows = state.execute(f"SELECT number, page, title, source, pub_ms, seen_ms, path FROM search_docs WHERE year = ? {ORDER}", (year,))
    numbers, documents, keys = [], [], []
    for number, page, title, source, pub_ms, seen_ms, path in rows:
        numbers.append(number)
        documents.append((page, title, source, pub_ms))
        keys.append((seen_ms, pub_ms, path))
    return numbers, documents, keys


Shard = dict[str, PostingList]  # a shard's lists by token


def _load(state: sqlite3.Connection, year: int, shards: Iterable[int]) -> dict[int, Shard]:
    wanted = sorted(shards)
    loaded = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = f"SELECT shard, lists FROM search_shards WHERE year = ? AND shard IN ({','.join('?' * len(chunk))})"
        for shard, lists in state.execute(query, (year, *chunk)):
            loaded[shard] = {token: PostingList(*fields) for token, fields in json.loads(lists).items()}
    return {shard: loaded.get(shard, {}) for shard in wanted}


def _save(state: sqlite3.Connection, year: int, shards: dict[int, Shard], write: Write) -> None:
    """Keep these shards' lists and write their files."""
    rows = []
    for shard, lists in sorted(shards.items()):
        ordered = dict(sorted(lists.items()))
        kept = {token: [found.value, found.bits, found.count, found.k, found.last] for token, found in ordered.items()}
        counts = sorted({found.count for found in ordered.values()})
        rows.append((year, shard, json.dumps(kept, ensure_ascii=False, separators=(",", ":")), json.dumps(counts)))
        name, data = sitesearch.shard_file(year, shard, ((token, found.value) for token, found in ordered.items()))
        write(f"search/{name}", data)
    state.executemany("INSERT OR REPLACE INTO search_shards VALUES (?, ?, ?, ?)", rows)


def _grouped(lists: dict[str, PostingList], shards: int) -> dict[int, Shard]:
    grouped: dict[int, Shard] = {shard: {} for shard in range(shards)}
    for token, found in lists.items():
        grouped[sitesearch.shard_of(token, shards)][token] = found
    return grouped


def _whole_year(
    state: sqlite3.Connection, year: int, sources: list[str], folder: Path, write: Write, remove: Callable[[str], None]
) -> tuple[int, int]:
    """Make every file of a year from its articles' tokens, and its lists in the state; remove the year's other files."""
    documents: list[Document] = []

    def entries() -> Iterator[SearchEntry]:
        query = f"SELECT number, page, title, source, pub_ms, seen_ms, tokens FROM search_docs WHERE year = ? {ORDER}"
        for number, page, title, source, pub_ms, seen_ms, packed in state.execute(query, (year,)):
            tokens, counts = sitesearch.unpack_tokens(packed)
            documents.append((page, title, source, pub_ms))
            yield SearchEntry(
                number=number, page=page, title=title, source=source, pub_ms=pub_ms, seen_ms=seen_ms, tokens=tokens, counts=counts
            )

    total, lists = sitesearch.year_lists(entries())
    size = sum(sitesearch.list_size(token, found) for token, found in lists.items())
    shards = sitesearch.shard_count(size)
    state.execute("DELETE FROM search_shards WHERE year = ?", (year,))
    _save(state, year, _grouped(lists, shards), write)
    del lists
    state.execute("INSERT OR REPLACE INTO search_years VALUES (?, ?, ?, ?)", (year, total, shards, size))
    made = [sitesearch.when_file(year, documents, sources)]
    made.extend(sitesearch.documents_file(year, documents, n) for n in range(-(-total // DOCS_PER_FILE)))
    for name, data in made:
        write(f"search/{name}", data)
    names = {name for name, _ in made} | {f"{year}/s{n}.js" for n in range(shards)}
    for file in sorted((folder / str(year)).glob("*.js")):
        if f"{year}/{file.name}" not in names:
            remove(f"search/{year}/{file.name}")
    return total, shards


def _update_year(
    state: sqlite3.Connection,
    year: int,
    changes: dict[int, Before | None],
    known: tuple[int, int, int],
    sources: list[str],
    write: Write,
    remove: Callable[[str], None],
) -> tuple[int, int] | None:
    """Bring a year's files up to date with the articles added and changed in place (``changes``: number -> what
    it was, None for a new article) from its lists; None when it must be made in full."""
    before, old_shards, size = known
    numbers, documents, keys = _documents(state, year)
    local = {number: n for n, number in enumerate(numbers)}
    total = len(numbers)
    added = {number for number, old in changes.items() if old is None}
    changed = {number: old for number, old in changes.items() if old is not None}
    if set(numbers[before:]) != added or len(changed) > max(20, total // 20) or not changed.keys() <= set(numbers[:before]):
        return None  # articles left, or came before others (local numbers shift), or too many to change one by one
    was = [
        (then[3], then[2], key[2]) if (then := changed.get(number)) else key for number, key in zip(numbers[:before], keys, strict=False)
    ]
    if any(a > b for a, b in itertools.pairwise(was)):
        return None  # a changed article moved among the others

    def codes(number: int) -> dict[str, int]:
        (title, packed), *_ = state.execute("SELECT title, tokens FROM search_docs WHERE number = ?", (number,))
        return sitesearch.entry_codes(title, *sitesearch.unpack_tokens(packed))

    edited: defaultdict[str, list[tuple[int, int | None]]] = defaultdict(list)  # token -> (local number, new code)
    for number, (packed, title, _, _) in changed.items():
        old, new = sitesearch.entry_codes(title, *sitesearch.unpack_tokens(packed)), codes(number)
        for token in old.keys() | new.keys():
            if old.get(token) != new.get(token):
                edited[token].append((local[number], new.get(token)))
    appended: defaultdict[str, list[int]] = defaultdict(list)
    for number in numbers[before:]:
        for token, code in codes(number).items():
            appended[token].append(local[number] << 6 | code)
    # The lists whose Rice parameter moves with the year's count are coded again; each shard keeps its lists' counts.
    moved = {count for count in range(1, before + 1) if sitesearch.rice_parameter(before, count) != sitesearch.rice_parameter(total, count)}
    touched = {sitesearch.shard_of(token, old_shards) for token in edited.keys() | appended.keys()}
    if moved:
        for shard, counts in state.execute("SELECT shard, counts FROM search_shards WHERE year = ?", (year,)):
            if shard not in touched and not moved.isdisjoint(json.loads(counts)):
                touched.add(shard)
    loaded = _load(state, year, touched)
    dirty: set[int] = set()

    def recode(token: str, found: PostingList | None) -> None:
        nonlocal size
        shard = sitesearch.shard_of(token, old_shards)
        lists = loaded[shard]
        was = lists.pop(token, None)
        size -= sitesearch.list_size(token, was) if was else 0
        if found:
            lists[token] = found
            size += sitesearch.list_size(token, found)
        dirty.add(shard)

    for token, changes_of_token in edited.items():
        found = loaded[sitesearch.shard_of(token, old_shards)].get(token)
        values = sitesearch.decode_postings(found) if found else []
        for rank, new_code in changes_of_token:
            values = [value for value in values if value >> 6 != rank]
            if new_code is not None:
                bisect.insort(values, rank << 6 | new_code)
        recode(token, sitesearch.encode_postings(values, total) if values else None)
    for token, values in appended.items():
        found = loaded[sitesearch.shard_of(token, old_shards)].get(token)
        recode(token, sitesearch.append_postings(found, values, total) if found else sitesearch.encode_postings(values, total))
    for lists in loaded.values():
        for token, found in list(lists.items()):
            if found.count in moved and token not in edited and token not in appended:
                recode(token, sitesearch.encode_postings(sitesearch.decode_postings(found), total))
    shards = sitesearch.shard_count(size)
    if shards != old_shards:  # the lists of the year regrouped
        everything = {**_load(state, year, set(range(old_shards)) - touched), **loaded}
        state.execute("DELETE FROM search_shards WHERE year = ?", (year,))
        _save(state, year, _grouped({t: f for lists in everything.values() for t, f in lists.items()}, shards), write)
        for n in range(shards, old_shards):
            remove(f"search/{year}/s{n}.js")
    else:
        _save(state, year, {shard: loaded[shard] for shard in dirty}, write)
    state.execute("INSERT OR REPLACE INTO search_years VALUES (?, ?, ?, ?)", (year, total, shards, size))
    name, data = sitesearch.when_file(year, documents, sources)
    write(f"search/{name}", data)
    for n in sorted({local[number] // DOCS_PER_FILE for number in [*added, *changed]}):
        name, data = sitesearch.documents_file(year, documents, n)
        write(f"search/{name}", data)
    return total, shards
