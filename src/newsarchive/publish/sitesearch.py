"""Full-text search for the static site that works with no server, even from ``file://``.

Pagefind cannot: it fetches its index and WebAssembly, which browsers refuse to pages opened from ``file://``
(Pagefind issue #202); FlexSearch, MiniSearch and Orama load the whole index. So the index here is the project's
own: plain script files that a ``<script>`` tag may load anywhere, sharded by year (Beijing time) and, within a
year, by the hash of the token, so a query loads one small file per token and year, and a bundle of one year has
only that year's files:

- ``search/meta.js``: the years (their articles and shards), the outlets, the format's constants;
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
import zlib
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache, partial
from pathlib import Path
from typing import Any

from ..index.tokens import simplified, token_counts

FORMAT = 3  # of the files: the script reads only what it knows
DOCS_PER_FILE = 50
SHARD_BYTES = 24_000  # a year's token shards are as many (a power of two) as keep each near this size or below
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
    tokens: list[str]  # every token of the title and text
    counts: bytes  # how often each occurs (at most 255)


def entry_tokens(title: str, text: str) -> tuple[list[str], bytes]:
    counts = token_counts(title + "\n" + text)
    return list(counts), bytes(min(n, 255) for n in counts.values())


def pack_tokens(tokens: list[str], counts: bytes) -> bytes:
    """Tokens and counts as one compressed value for the site's state database."""
    return zlib.compress(" ".join(tokens).encode() + b"\0" + counts, 1)


def unpack_tokens(packed: bytes) -> tuple[list[str], bytes]:
    tokens, _, counts = zlib.decompress(packed).partition(b"\0")
    return (tokens.decode().split(" ") if tokens else []), counts


def _bits_to_base64(bits: str) -> str:
    if not bits:
        return ""
    padded = bits + "0" * (-len(bits) % 8)
    return base64.b64encode(int(padded, 2).to_bytes(len(padded) // 8, "big")).decode().rstrip("=")


@cache
def _gamma(value: int) -> str:
    binary = format(value, "b")
    return "0" * (len(binary) - 1) + binary


def _rice(value: int, k: int) -> str:
    return "1" * (value >> k) + "0" + (format(value & ((1 << k) - 1), f"0{k}b") if k else "")


_POSTING_CODES: dict[int, dict[int, str]] = {}  # Rice parameter -> (gap << 6 | code) -> bits, for small gaps
_CODE_OF_COUNT = [max(0, min(n, MAX_COUNT) - 1) * 2 for n in range(256)]


def encode_postings(values: array[int], total: int) -> str:
    """A posting list (``values``: article number << 6 | code, ascending): gamma(length), the Rice parameter in 5
    bits, then per article the gap from the previous number (minus one) Rice-coded and gamma(code + 1), in base64.
    The code is the token's count (capped) and whether the title holds it (``code_of``). ``total``: the year's
    articles, from which the parameter is chosen."""
    k = max(0, int(math.log2(max(1.0, total / len(values) * math.log(2)))))
    table = _POSTING_CODES.setdefault(k, {})
    parts = [_gamma(len(values)), format(k, "05b")]
    previous = -1
    for value in values:
        number = value >> 6
        key = (number - previous - 1) << 6 | (value & 63)
        bits = table.get(key)
        if bits is None:
            bits = _rice(key >> 6, k) + _gamma((key & 63) + 1)
            if key < 1 << 18:
                table[key] = bits
        parts.append(bits)
        previous = number
    return _bits_to_base64("".join(parts))


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


def year_files(year: int, entries: Iterable[SearchEntry], sources: list[str]) -> tuple[int, list[tuple[str, bytes]]]:
    """The number of token shards of one year and its files, as (path under search/, bytes). ``entries`` come in
    ascending numbers; their rank is their number within the year."""
    postings: defaultdict[str, array[int]] = defaultdict(partial(array, "I"))
    when: list[str] = []
    source_bits = max(1, (len(sources) - 1).bit_length())
    source_index = {slug: n for n, slug in enumerate(sources)}
    start = year_start_ms(year)
    documents: list[list[object]] = []
    codes = _CODE_OF_COUNT
    for local, entry in enumerate(entries):
        base = local << 6
        for token, count in zip(entry.tokens, entry.counts, strict=True):
            postings[token].append(base | codes[count])
        for token in token_counts(entry.title):
            if token in postings:
                postings[token][-1] |= 1  # this article's posting: the title holds the token
        minute = max(0, min((entry.pub_ms - start) // 60_000, (1 << MINUTE_BITS) - 1))
        when.append(format(minute, f"0{MINUTE_BITS}b") + format(source_index[entry.source], f"0{source_bits}b"))
        documents.append([entry.page, entry.title, entry.source, entry.pub_ms])
    total = len(documents)
    encoded = {token: encode_postings(postings.pop(token), total) for token in list(postings)}  # freeing as it goes
    size = sum(len(token) * 3 + len(value) + 6 for token, value in encoded.items())
    shards = min(MAX_SHARDS, 1 << max(0, math.ceil(math.log2(max(1, size / SHARD_BYTES)))))
    grouped: list[dict[str, str]] = [{} for _ in range(shards)]
    for token in sorted(encoded):
        grouped[shard_of(token, shards)][token] = encoded[token]
    files = [(f"{year}/s{shard}.js", _script("shard", year, shard, lists)) for shard, lists in enumerate(grouped)]
    files.append((f"{year}/w.js", _script("when", year, _bits_to_base64("".join(when)))))
    for first in range(0, total, DOCS_PER_FILE):
        files.append(
            (
                f"{year}/d{first // DOCS_PER_FILE}.js",
                _script("docs", year, first // DOCS_PER_FILE, documents[first : first + DOCS_PER_FILE]),
            )
        )
    return shards, files


def search_files(
    years: dict[int, int],
    changed: set[int],
    entries_of: Callable[[int], Iterable[SearchEntry]],
    outlets: dict[str, str],
    sources: list[str],
    previous: dict[str, Any],
) -> Iterator[tuple[str, bytes]]:
    """The files of the years in ``changed`` (``entries_of(year)`` gives a year's entries in ascending numbers), then
    t2s.js and meta.js. ``years`` maps every year to its number of articles, ``sources`` orders the outlets, and
    ``previous`` is what the existing meta.js says (for the years not made again)."""
    summary: dict[str, dict[str, int]] = {}
    for year, articles in sorted(years.items()):
        if year in changed:
            shards, files = year_files(year, entries_of(year), sources)
            yield from files
        else:
            shards = previous["years"][str(year)]["shards"]
        summary[str(year)] = {"articles": articles, "shards": shards}
    meta = {
        "format": FORMAT,
        "years": summary,
        "docsPerFile": DOCS_PER_FILE,
        "minuteBits": MINUTE_BITS,
        "sources": sources,
        "outlets": outlets,
    }
    yield "t2s.js", _script("t2s", "".join(a + b for a, b in traditional_pairs().items()))
    yield "meta.js", _script("meta", meta)


@cache
def traditional_pairs() -> dict[str, str]:
    """Traditional character -> simplified, for every character OpenCC changes on its own."""
    characters = [chr(code) for start, end in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)) for code in range(start, end + 1)]
    converted = simplified("\n".join(characters)).split("\n")
    if len(converted) != len(characters):  # a conversion that joined lines: fall back to one at a time
        converted = [simplified(character) for character in characters]
    return {a: b for a, b in zip(characters, converted, strict=True) if a != b and len(b) == 1}
