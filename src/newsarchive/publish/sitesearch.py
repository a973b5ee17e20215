"""Full-text search for the static site that works with no server, even from ``file://``.

Pagefind cannot: it fetches its index and WebAssembly, which browsers refuse to pages opened from ``file://``
(Pagefind issue #202); FlexSearch, MiniSearch and Orama load the whole index. So the index here is the project's
own: plain script files that a ``<script>`` tag may load anywhere, sharded by year (Beijing time) and, within a
year, by the hash of the token, so a query loads one small file per token and year, and a bundle of one year has
only that year's files:

- ``search/meta.js``: the years (articles, shards, document files), the outlets, the format's constants;
- ``search/t2s.js``: the traditional-to-simplified table with which the script folds a query;
- ``search/<year>/s<n>.js``: for each token whose hash falls in shard n, its posting list;
- ``search/<year>/w.js``: for each article of the year, its minute of the year and its outlet (filters, order);
- ``search/<year>/d<n>.js``: the page, title, outlet and time of articles n*DOCS_PER_FILE upwards.

Tokens are those of ``newsarchive search`` (index/tokens.py) over each article's title and whole text. A posting
list is Rice-coded (gaps between article numbers; its parameter chosen per list from how dense it is), each gap
followed by an Elias-gamma code of the token's count in the article and whether the title holds it, then base64.
Article numbers are stable (a new article takes the next), so a new article of this year changes the shards of
its tokens, its documents file and that year's ``w.js``; other years stay as they were.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from ..index.tokens import simplified, token_counts

FORMAT = 2  # of the files: the script reads only what it knows
DOCS_PER_FILE = 50
DOCS_PER_SHARD = 32  # a year of n articles has the power of two nearest above n/32 shards (at most MAX_SHARDS)
MAX_SHARDS = 4096
MAX_COUNT = 31  # counts of a token in an article above this are stored as this
MINUTE_BITS = 20  # minutes since the start of the year: 527,040 at most
BEIJING = timezone(timedelta(hours=8))


def tokens_of(text: str) -> list[str]:
    """The distinct tokens of ``text``, as the search script cuts a query."""
    return list(token_counts(text))


def fnv(token: str) -> int:
    """FNV-1a over UTF-16 code units, as search.js computes it."""
    digest = 0x811C9DC5
    encoded = token.encode("utf-16-le")
    for unit in struct.unpack(f"<{len(encoded) // 2}H", encoded):
        digest = ((digest ^ unit) * 0x01000193) & 0xFFFFFFFF
    return digest


def shards_for(articles: int) -> int:
    return min(MAX_SHARDS, 1 << max(0, math.ceil(math.log2(max(1, articles) / DOCS_PER_SHARD))))


def shard_of(token: str, shards: int) -> int:
    return fnv(token) & (shards - 1)


def year_of(pub_ms: int) -> int:
    return datetime.fromtimestamp(pub_ms / 1000, BEIJING).year


def year_start_ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=BEIJING).astimezone(UTC).timestamp() * 1000)


@dataclass(frozen=True, kw_only=True)
class SearchEntry:
    number: int  # stable document number
    page: str  # the article's page in the site
    title: str
    source: str
    pub_ms: int
    counts: dict[str, int]  # token -> how often the title and text hold it


def entry_counts(title: str, text: str) -> dict[str, int]:
    return dict(token_counts(title + "\n" + text))


def pack_counts(counts: dict[str, int]) -> str:
    """``counts`` as one string for the site's state database: ``token`` or ``token*count``, space-separated."""
    return " ".join(token if n == 1 else f"{token}*{n}" for token, n in counts.items())


def unpack_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in text.split(" "):
        token, _, n = item.partition("*")
        if token:
            counts[token] = int(n) if n else 1
    return counts


class _Bits:
    """Bits written most significant first, as strings of 0 and 1 (Python turns them into bytes in C)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def gamma(self, value: int) -> None:  # value >= 1
        self.parts.append(_gamma(value))

    def fixed(self, value: int, width: int) -> None:
        if width:
            self.parts.append(format(value, f"0{width}b"))

    def to_base64(self) -> str:
        bits = "".join(self.parts)
        if not bits:
            return ""
        padded = bits + "0" * (-len(bits) % 8)
        return base64.b64encode(int(padded, 2).to_bytes(len(padded) // 8, "big")).decode().rstrip("=")


@cache
def _gamma(value: int) -> str:
    binary = format(value, "b")
    return "0" * (len(binary) - 1) + binary


@cache
def _rice(value: int, k: int) -> str:
    return "1" * (value >> k) + "0" + (format(value & ((1 << k) - 1), f"0{k}b") if k else "")


def encode_postings(numbers: Iterable[int], codes: Iterable[int], count: int, total: int) -> str:
    """A posting list: gamma(count), the Rice parameter in 5 bits, then per article the gap from the previous
    number (minus one) Rice-coded and gamma(code + 1). ``total`` is the number of articles of the year."""
    k = max(0, int(math.log2(max(1.0, total / count * math.log(2)))))
    bits = _Bits()
    bits.gamma(count)
    bits.fixed(k, 5)
    previous = -1
    parts = bits.parts
    for number, code in zip(numbers, codes, strict=True):
        parts.append(_rice(number - previous - 1, k))
        parts.append(_gamma(code + 1))
        previous = number
    return bits.to_base64()


def code_of(count: int, in_title: bool) -> int:
    """What a posting says besides the article: the token's count (capped) and whether the title holds it."""
    return (min(count, MAX_COUNT) - 1) * 2 + in_title


def read_meta(path: Path) -> dict[str, Any]:
    """What an existing meta.js says; empty when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
        found = json.loads(text.removeprefix("naSearch.meta(").removesuffix(");\n"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _script(call: str, *args: object) -> bytes:
    return (f"naSearch.{call}(" + ",".join(json.dumps(a, ensure_ascii=False, separators=(",", ":")) for a in args) + ");\n").encode()


def year_files(year: int, entries: Iterable[SearchEntry], sources: list[str]) -> Iterator[tuple[str, bytes]]:
    """The files of one year, as (path under search/, bytes). ``entries`` come in ascending numbers; their
    rank is their number within the year. Memory holds the postings, 4 bytes each."""
    postings: dict[str, array[int]] = {}
    when = _Bits()
    source_bits = max(1, (len(sources) - 1).bit_length())
    source_index = {slug: n for n, slug in enumerate(sources)}
    start = year_start_ms(year)
    documents: list[list[object]] = []
    for local, entry in enumerate(entries):
        title_tokens = set(token_counts(entry.title))
        for token, count in entry.counts.items():
            numbers = postings.get(token)
            if numbers is None:
                numbers = postings[token] = array("I")
            numbers.append(local << 6 | code_of(count, token in title_tokens))
        when.fixed(max(0, min((entry.pub_ms - start) // 60_000, (1 << MINUTE_BITS) - 1)), MINUTE_BITS)
        when.fixed(source_index[entry.source], source_bits)
        documents.append([entry.page, entry.title, entry.source, entry.pub_ms])
    total = len(documents)
    shards = shards_for(total)
    grouped: list[list[str]] = [[] for _ in range(shards)]
    for token in postings:
        grouped[shard_of(token, shards)].append(token)
    for shard, tokens in enumerate(grouped):
        lists = {}
        for token in sorted(tokens):
            values = postings[token]
            lists[token] = encode_postings((v >> 6 for v in values), (v & 63 for v in values), len(values), total)
        yield f"{year}/s{shard}.js", _script("shard", year, shard, lists)
    yield f"{year}/w.js", _script("when", year, when.to_base64())
    for first in range(0, total, DOCS_PER_FILE):
        yield (
            f"{year}/d{first // DOCS_PER_FILE}.js",
            _script("docs", year, first // DOCS_PER_FILE, documents[first : first + DOCS_PER_FILE]),
        )


def search_files(
    years: dict[int, int],
    changed: set[int],
    entries_of: Callable[[int], Iterable[SearchEntry]],
    outlets: dict[str, str],
    sources: list[str],
) -> Iterator[tuple[str, bytes]]:
    """The files of the years in ``changed`` (``entries_of(year)`` gives a year's entries in ascending numbers), then
    meta.js and t2s.js. ``years`` maps every year to its number of articles; ``sources`` orders the outlets."""
    for year in sorted(changed & set(years)):
        yield from year_files(year, entries_of(year), sources)
    meta = {
        "format": FORMAT,
        "years": {
            str(year): {"articles": n, "shards": shards_for(n), "files": -(-n // DOCS_PER_FILE)} for year, n in sorted(years.items())
        },
        "docsPerFile": DOCS_PER_FILE,
        "minuteBits": MINUTE_BITS,
        "sources": sources,
        "outlets": outlets,
    }
    yield "t2s.js", _script("t2s", traditional_pairs())
    yield "meta.js", _script("meta", meta)


@cache
def traditional_pairs() -> dict[str, str]:
    """Traditional character -> simplified, for every character OpenCC changes on its own."""
    characters = [chr(code) for start, end in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)) for code in range(start, end + 1)]
    converted = simplified("\n".join(characters)).split("\n")
    if len(converted) != len(characters):  # a conversion that joined lines: fall back to one at a time
        converted = [simplified(character) for character in characters]
    return {a: b for a, b in zip(characters, converted, strict=True) if a != b and len(b) == 1}
