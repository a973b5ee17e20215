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
from functools import cache
from typing import Any

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
WORD = "0-9a-z\u00c0-\u024f"
UNIT = re.compile(rf"[{HAN}]|[{WORD}]+")


@cache
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    return str(_converter().convert(text))


def runs(text: str) -> list[list[str]]:
    """Runs of units: characters and words not separated by punctuation (white space does not separate)."""
    folded = simplified(text).lower()
    result: list[list[str]] = []
    current: list[str] = []
    position = 0
    for match in UNIT.finditer(folded):
        if current and match.start() > position and not folded[position : match.start()].isspace():
            result.append(current)
            current = []
        current.append(match.group())
        position = match.end()
    if current:
        result.append(current)
    return result


def pairs(run: list[str]) -> list[str]:
    """The pair tokens of a run: each two neighbouring units joined by ``_``."""
    return [a + "_" + b for a, b in itertools.pairwise(run)]


def token_counts(text: str) -> Counter[str]:
    """How often each token (unit or pair) occurs in ``text``."""
    counts: Counter[str] = Counter()
    for run in runs(text):
        counts.update(run)
        counts.update(pairs(run))
    return counts


def query_terms(query: str) -> list[str]:
    """The terms of a query: words, or quoted phrases."""
    try:
        return [term for term in shlex.split(query) if term.strip()]
    except ValueError:
        return query.replace('"', " ").split()
