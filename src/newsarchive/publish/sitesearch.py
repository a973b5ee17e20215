"""Search for the static site that works with no server, even from ``file://``.

Pagefind cannot: it fetches its index and WebAssembly, which browsers refuse to pages opened from
``file://`` (Pagefind issue #202). So the index here is plain script files that a ``<script>`` tag may
load anywhere: ``search/s<n>.js`` hold the postings of the tokens whose hash falls in shard n,
``search/d<n>.js`` the documents numbered n*1000 upwards, ``search/t2s.js`` the traditional-to-
simplified table, ``search/meta.js`` the sizes. Tokens are those of the archive's search (one per
character or Latin word, one per neighbouring pair, traditional folded to simplified) over each
article's title and the start of its text, so a query for a name, a place or a word in a headline
or a lead finds it. Document numbers are stable, so a new article changes only the shards of its
tokens and the last documents file.
"""

from __future__ import annotations

import itertools
import json
import struct
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from ..index.search import _pairs, runs, simplified

SHARDS = 256
DOCS_PER_FILE = 1000
LEAD_CHARACTERS = 100  # of the article's text indexed besides its title


def tokens_of(text: str) -> list[str]:
    """The distinct tokens of ``text``, as the search script cuts a query."""
    found: dict[str, None] = {}
    for run in runs(text):
        found.update(dict.fromkeys(run))
        found.update(dict.fromkeys(_pairs(run)))
    return list(found)


def shard_of(token: str) -> int:
    """FNV-1a over UTF-16 code units, as search.js computes it."""
    digest = 0x811C9DC5
    encoded = token.encode("utf-16-le")
    for unit in struct.unpack(f"<{len(encoded) // 2}H", encoded):
        digest = ((digest ^ unit) * 0x01000193) & 0xFFFFFFFF
    return digest % SHARDS


@dataclass(frozen=True, kw_only=True)
class SearchEntry:
    number: int  # stable document number
    page: str  # the article's page in the site
    title: str
    source: str
    pub_ms: int
    tokens: tuple[str, ...]


def _script(call: str, *args: object) -> bytes:
    return (f"naSearch.{call}(" + ",".join(json.dumps(a, ensure_ascii=False, separators=(",", ":")) for a in args) + ");\n").encode()


def search_files(entries: Iterable[SearchEntry], outlets: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    """Every file of the static search, as (path under search/, bytes). ``entries`` come in ascending
    numbers; memory holds the postings (4 bytes each) and the short document lists, not the entries."""
    postings: dict[str, array[int]] = {}
    documents: dict[int, list[list[object] | None]] = {}
    for entry in entries:
        for token in entry.tokens:
            numbers = postings.get(token)
            if numbers is None:
                numbers = postings[token] = array("I")
            numbers.append(entry.number)
        chunk = documents.setdefault(entry.number // DOCS_PER_FILE, [None] * DOCS_PER_FILE)
        chunk[entry.number % DOCS_PER_FILE] = [entry.page, entry.title, entry.source, entry.pub_ms]
    shards: list[list[str]] = [[] for _ in range(SHARDS)]
    for token in postings:
        shards[shard_of(token)].append(token)
    for shard, tokens in enumerate(shards):
        # Document numbers as gaps from the previous one: small numbers, short files.
        deltas = {}
        for token in sorted(tokens):
            numbers = postings[token]
            deltas[token] = [numbers[0], *(b - a for a, b in itertools.pairwise(numbers))]
        yield f"s{shard}.js", _script("shard", shard, deltas)
    for number, chunk in sorted(documents.items()):
        yield f"d{number}.js", _script("docs", number, chunk)
    yield "t2s.js", _script("t2s", traditional_pairs())
    yield "meta.js", _script("meta", {"shards": SHARDS, "docsPerFile": DOCS_PER_FILE, "files": sorted(documents), "outlets": outlets})


@cache
def traditional_pairs() -> dict[str, str]:
    """Traditional character -> simplified, for every character OpenCC changes on its own."""
    characters = [chr(code) for start, end in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)) for code in range(start, end + 1)]
    converted = simplified("\n".join(characters)).split("\n")
    if len(converted) != len(characters):  # a conversion that joined lines: fall back to one at a time
        converted = [simplified(character) for character in characters]
    return {a: b for a, b in zip(characters, converted, strict=True) if a != b and len(b) == 1}
