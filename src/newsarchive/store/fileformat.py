"""The duty-machine/news Markdown formats: render and parse, and nowhere else.

An article file::

    <!--1630687503000-->
    [title](https://link)
    ------

    <body on one line>

A list file: the outlet's name, ``------``, an empty line, then ``M-D [title](/articles/<slug>/<file>)``
entries, newest first, each followed by an empty line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..errors import ArticleFileError

# What JavaScript's \s matches: duty-machine stripped titles and body lines with /^\s*|\s*$/.
JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

# White space that would break the one-line title: folded to one space. Plain and ideographic spaces stay,
# since real titles carry runs of them and the files must stay byte-identical.
_TITLE_BREAKS = re.compile(r"[\t\n\x0b\x0c\r\x85\u2028\u2029]+")


def js_strip(text: str) -> str:
    return text.strip(JS_WHITESPACE)


def fold_title(title: str) -> str:
    """Strip a title and fold line breaks and tabs inside it to one space."""
    return js_strip(_TITLE_BREAKS.sub(" ", title))


def join_body(body: str) -> str:
    """The article body as duty-machine wrote it: every line stripped, joined with nothing between."""
    return "".join(js_strip(line) for line in body.split("\n"))


_PUB = re.compile(r"<!--(\d+|NaN)-->")
_BEIJING = timedelta(hours=8)
# Node's url.resolve() escaped these in duty-machine's list links (spaces above all); ?, # and % are
# escaped too so that every file name makes a working link. Non-ASCII stays raw, as in the original.
_LINK_ESCAPES = {ord(c): f"%{ord(c):02X}" for c in " \"'<>\\^`{|}?#%\t\r\n"}


@dataclass(frozen=True, kw_only=True)
class ArticleFile:
    """The parts of an article file, as they stand in it."""

    pub_ms: int | None
    title: str
    link: str | None
    body: str


def header_title(title: str) -> str:
    """The title as the header line holds it: one line, stripped, and unable to end the link text early."""
    return fold_title(title).replace("](", "]\\(")


def render_article(*, pub_ms: int | None, title: str, link: str | None, body: str) -> str:
    pub = "NaN" if pub_ms is None else str(int(pub_ms))
    return f"<!--{pub}-->\n[{header_title(title)}]({link or ''})\n------\n\n{body}\n"


def parse_article(text: str, path: Path | str = "<text>") -> ArticleFile:
    """Read an article file; raise ArticleFileError with the line at fault when it is not one."""
    if text.startswith("\ufeff"):
        raise ArticleFileError(path, 1, "starts with a byte-order mark (the format is UTF-8 without one)")
    parts = text.split("\n", 4)
    if len(parts) < 5:
        raise ArticleFileError(path, len(parts), "ends before the body: expected a date line, a title line, ------ and an empty line")
    date_line, title_line, rule, empty, body = parts
    match = _PUB.fullmatch(date_line)
    if not match:
        raise ArticleFileError(path, 1, f"expected <!--milliseconds-->, found {date_line[:60]!r}")
    if not (title_line.startswith("[") and title_line.endswith(")") and "](" in title_line):
        raise ArticleFileError(path, 2, f"expected [title](link), found {title_line[:60]!r}")
    if rule != "------":
        raise ArticleFileError(path, 3, f"expected ------, found {rule[:60]!r}")
    if empty != "":
        raise ArticleFileError(path, 4, "expected an empty line before the body")
    title, link = title_line[1:-1].split("](", 1)
    return ArticleFile(
        pub_ms=None if match[1] == "NaN" else int(match[1]),
        title=title.replace("]\\(", "]("),
        link=link or None,
        body=body[:-1] if body.endswith("\n") else body,
    )


@dataclass(frozen=True, kw_only=True)
class ListEntry:
    path: str  # relative to articles/, e.g. "rfi/1048574.md"
    title: str
    pub_ms: int | None


def month_day(pub_ms: int) -> str:
    """``M-D`` of a time in Beijing time (UTC+8), without leading zeros."""
    moment = datetime.fromtimestamp(pub_ms / 1000, UTC) + _BEIJING
    return f"{moment.month}-{moment.day}"


def escape_path(path: str) -> str:
    return path.translate(_LINK_ESCAPES)


def render_list(name: str, entries: Iterable[ListEntry]) -> str:
    lines = []
    for entry in entries:
        date = f"{month_day(entry.pub_ms)} " if entry.pub_ms is not None else ""
        lines.append(f"{date}[{js_strip(header_title(entry.title))}](/articles/{escape_path(entry.path)})\n")
    return f"{name}\n------\n\n" + "\n".join(lines) + "\n"


def render_readme(title: str, names: Iterable[str], mirrors: Iterable[tuple[str, str]] = ()) -> str:
    """The archive's README.md: a heading, then a link to each outlet's list; then, when there are any, the places
    where readers can browse a copy (name, address), so a reader who finds one copy finds the others."""
    links = "".join(f"[{name}](lists/{escape_path(name)}.md)\n\n" for name in names)
    copies = "".join(f"[{js_strip(header_title(name))}]({escape_path(url)})\n\n" for name, url in mirrors)
    return f"{title}\n------\n\n{links}" + (f"镜像 Mirrors\n------\n\n{copies}" if copies else "")
