"""How text and queries are cut into search tokens: the one tokenizer of ``newsarchive search`` (index/search.py)
and of the static site's search (publish/sitesearch.py, whose script web/static/search.js cuts queries the same way).

Text is converted to simplified characters (OpenCC t2s) and lower-cased, then cut into units: one unit per Chinese
character, one per Latin word or number. Punctuation ends a run of units (white space does not), so no pair spans
it. The tokens of a run are its units and the pairs of neighbouring units (``a_b``).
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
WORD = "0-9a-z\u00c0-\u024f"
UNIT = re.compile(rf"[{HAN}]|[{WORD}]+")
_BREAK = re.compile(rf"(?:\s*[^\s{HAN}{WORD}])+\s*")  # what ends a run: anything but units and white space
_NOT_HAN = re.compile(rf"[^{HAN}]")


@cache
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    return str(_converter().convert(text))


def unit_runs(text: str) -> Iterator[Sequence[str]]:
    """The runs of units of ``text``: characters and words not separated by punctuation (white space does not
    separate). A run of Chinese characters alone, the common case, comes as the string itself (a sequence of its
    units), which is much faster than matching each unit."""
    mixed = _NOT_HAN.search
    for piece in _BREAK.split(simplified(text).lower()):
        run = UNIT.findall(piece) if mixed(piece) else piece  # white space, words or digits need the pattern
        if run:
            yield run


def runs(text: str) -> list[list[str]]:
    """The runs of units of ``text``, as lists."""
    return [list(run) for run in unit_runs(text)]


def pairs(run: list[str]) -> list[str]:
    """The pair tokens of a run: each two neighbouring units joined by ``_``."""
    return [a + "_" + b for a, b in itertools.pairwise(run)]


def token_counts(text: str) -> Counter[str]:
    """How often each token (unit or pair) occurs in ``text``."""
    counts: Counter[str] = Counter()
    for run in unit_runs(text):
        counts.update(run)
        if len(run) > 1:
            counts.update(map("_".join, itertools.pairwise(run)))
    return counts


def query_terms(query: str) -> list[str]:
    """The terms of a query: words, or quoted phrases."""
    try:
        return [term for term in shlex.split(query) if term.strip()]
    except ValueError:
        return query.replace('"', " ").split()
