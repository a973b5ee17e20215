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
A year's articles are numbered in the order the archive first had them (then by time and path): a new article
comes last, so it changes only the shards of its tokens, its documents file and that year's ``w.js``, and other
years not at all. searchstate.py keeps the lists to bring the files up to date that way.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import zlib
from array import array
from collections import defaultdict
from collections.abc import Iterable
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
    seen_ms: int  # when the archive first had it (0: imported); the year's articles are ordered by it, then by time
    tokens: list[str]  # every token of the title and text
    counts: bytes  # how often each occurs (at most 255)


Document = tuple[str, str, str, int]  # an article's page, title, outlet and time, as the documents files hold them


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


def rice_parameter(total: int, count: int) -> int:
    """The Rice parameter of a list of ``count`` articles among ``total``: gaps are near total / count."""
    return max(0, int(math.log2(max(1.0, total / count * math.log(2)))))


def _body_bits(values: Iterable[int], k: int, previous: int) -> str:
    """Per article (``values``: local number << 6 | code, ascending, all above ``previous``), the gap from the
    previous number (minus one) Rice-coded and gamma(code + 1)."""
    table = _POSTING_CODES.setdefault(k, {})
    parts = []
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
    return "".join(parts)


@dataclass(frozen=True)
class PostingList:
    """One token's list in a year as written (``value``, base64 of ``bits`` bits), with what it takes to append
    to it without reading it again: its length, Rice parameter and last article's local number."""

    value: str
    bits: int
    count: int
    k: int
    last: int


def encode_postings(values: array[int] | list[int], total: int) -> PostingList:
    """A posting list (``values``: article number << 6 | code, ascending): gamma(length), the Rice parameter in 5
    bits, then per article the gap from the previous number (minus one) Rice-coded and gamma(code + 1), in base64.
    The code is the token's count (capped) and whether the title holds it (``entry_codes``). ``total``: the year's
    articles, from which the parameter is chosen."""
    k = rice_parameter(total, len(values))
    bits = _gamma(len(values)) + format(k, "05b") + _body_bits(values, k, -1)
    return PostingList(_bits_to_base64(bits), len(bits), len(values), k, values[-1] >> 6)


def _bit_text(found: PostingList) -> str:
    padded = base64.b64decode(found.value + "=" * (-len(found.value) % 4))
    return format(int.from_bytes(padded, "big") >> (len(padded) * 8 - found.bits), f"0{found.bits}b")


def _header_bits(count: int) -> int:
    return 2 * count.bit_length() - 1 + 5  # gamma(count), then k in 5 bits


def decode_postings(found: PostingList) -> list[int]:
    """The values (local number << 6 | code) of a list, as search.js decodes it."""
    bits, values, number = _bit_text(found), [], -1
    at, k = _header_bits(found.count), found.k
    for _ in range(found.count):
        quotient = bits.index("0", at) - at
        at += quotient + 1
        number += (quotient << k) + (int(bits[at : at + k], 2) if k else 0) + 1
        at += k
        zeros = bits.index("1", at) - at
        values.append(number << 6 | (int(bits[at + zeros : at + 2 * zeros + 1], 2) - 1))
        at += 2 * zeros + 1
    return values


def append_postings(found: PostingList, values: list[int], total: int) -> PostingList:
    """``found`` with ``values`` (all after its last article) added, as encode_postings would make the whole list
    among ``total`` articles; only the new articles are coded when the Rice parameter stays."""
    count = found.count + len(values)
    k = rice_parameter(total, count)
    if k != found.k:
        return encode_postings(decode_postings(found) + values, total)
    body = _bit_text(found)[_header_bits(found.count) :]
    bits = _gamma(count) + format(k, "05b") + body + _body_bits(values, k, found.last)
    return PostingList(_bits_to_base64(bits), len(bits), count, k, values[-1] >> 6)


def entry_codes(title: str, tokens: list[str], counts: bytes) -> dict[str, int]:
    """Each token of an article with its code: its count (capped) and whether the title holds it."""
    codes = {token: _CODE_OF_COUNT[count] for token, count in zip(tokens, counts, strict=True)}
    for token in token_counts(title):
        if token in codes:
            codes[token] |= 1
    return codes


def shard_count(size: int) -> int:
    """As many shards (a power of two) as keep each near SHARD_BYTES; ``size``: the year's list_size()s."""
    return min(MAX_SHARDS, 1 << max(0, math.ceil(math.log2(max(1, size / SHARD_BYTES)))))


def list_size(token: str, found: PostingList) -> int:
    return len(token) * 3 + len(found.value) + 6


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


def year_lists(entries: Iterable[SearchEntry]) -> tuple[int, dict[str, PostingList]]:
    """The number of articles of one year and the posting list of each of their tokens. ``entries`` come in
    ascending numbers; their local number is their rank within the year."""
    postings: defaultdict[str, array[int]] = defaultdict(partial(array, "I"))
    total = 0
    for local, entry in enumerate(entries):
        base = local << 6
        for token, count in zip(entry.tokens, entry.counts, strict=True):
            postings[token].append(base | _CODE_OF_COUNT[count])
        for token in token_counts(entry.title):  # as entry_codes, without a dict per article
            found = postings.get(token)
            if found is not None and found[-1] >> 6 == local:
                found[-1] |= 1
        total = local + 1
    return total, {token: encode_postings(postings.pop(token), total) for token in list(postings)}  # freeing as it goes


def shard_file(year: int, shard: int, lists: Iterable[tuple[str, str]]) -> tuple[str, bytes]:
    """The file of one shard from the (token, value) of every token in it."""
    return f"{year}/s{shard}.js", _script("shard", year, shard, dict(sorted(lists)))


def when_file(year: int, documents: list[Document], sources: list[str]) -> tuple[str, bytes]:
    """For each article of the year (in local numbers), its minute of the year and its outlet."""
    source_bits = max(1, (len(sources) - 1).bit_length())
    source_index = {slug: n for n, slug in enumerate(sources)}
    start = year_start_ms(year)
    when = []
    for _, _, source, pub_ms in documents:
        minute = max(0, min((pub_ms - start) // 60_000, (1 << MINUTE_BITS) - 1))
        when.append(format(minute, f"0{MINUTE_BITS}b") + format(source_index[source], f"0{source_bits}b"))
    return f"{year}/w.js", _script("when", year, _bits_to_base64("".join(when)))


def documents_file(year: int, documents: list[Document], n: int) -> tuple[str, bytes]:
    """The page, title, outlet and time of articles n * DOCS_PER_FILE upwards (local numbers)."""
    chunk = [list(document) for document in documents[n * DOCS_PER_FILE : (n + 1) * DOCS_PER_FILE]]
    return f"{year}/d{n}.js", _script("docs", year, n, chunk)


def meta_files(years: dict[int, tuple[int, int]], outlets: dict[str, str], sources: list[str]) -> list[tuple[str, bytes]]:
    """t2s.js and meta.js; ``years`` maps each year to its articles and shards, ``sources`` orders the outlets."""
    meta = {
        "format": FORMAT,
        "years": {str(year): {"articles": articles, "shards": shards} for year, (articles, shards) in sorted(years.items())},
        "docsPerFile": DOCS_PER_FILE,
        "minuteBits": MINUTE_BITS,
        "sources": sources,
        "outlets": outlets,
    }
    return [("t2s.js", _script("t2s", "".join(a + b for a, b in traditional_pairs().items()))), ("meta.js", _script("meta", meta))]


@cache
def traditional_pairs() -> dict[str, str]:
    """Traditional character -> simplified, for every character OpenCC changes on its own."""
    characters = [chr(code) for start, end in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)) for code in range(start, end + 1)]
    converted = simplified("\n".join(characters)).split("\n")
    if len(converted) != len(characters):  # a conversion that joined lines: fall back to one at a time
        converted = [simplified(character) for character in characters]
    return {a: b for a, b in zip(characters, converted, strict=True) if a != b and len(b) == 1}
