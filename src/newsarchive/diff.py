"""What changed between two versions of an article, in a way that makes sense for Chinese; an article's history.

Chinese puts no spaces between words, so a word diff sees a whole sentence as one changed "word", and a
character diff over a whole article pairs stray 的 and 了 across unrelated sentences. So sentences are
aligned first (one ends at 。！？；… or a line break, or at . ! ? in Latin text), and only changed sentences
are compared token by token: a Chinese character, a Latin word or number, a punctuation mark. White space
never counts (as in the fingerprint): a version that only re-spaced or re-encoded its text differs in
nothing. Unchanged sentences collapse to "…", keeping one of context on either side of a change.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from html import escape
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

from rich.text import Text

from .errors import ArticleFileError, ConfigError
from .html import plain_text
from .times import iso

if TYPE_CHECKING:
    from .index import ArticleRow
    from .store.store import Store

Kind = Literal["equal", "insert", "delete", "gap"]
GAP = "…"
CONTEXT = 1  # unchanged sentences kept on either side of a change
_FRAGMENTS = 0.3  # below this share of tokens in common, a changed run is shown as removed and added whole, not in shreds
_MAX_PAIRS = 25_000_000  # old × new tokens of one changed run beyond which the token diff would take seconds

_CJK = "\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff"
# A Latin (or Cyrillic, Greek …) word or number with its inner apostrophes, hyphens and decimal points; else one character.
_TOKEN = re.compile(rf"[^\W_{_CJK}]+(?:['’.,\-][^\W_{_CJK}]+)*|\S")
_SENTENCE_END = re.compile(r"(?:[。！？；…]+|[.!?]+(?=[\s\"'”’」』）)\]]|$))[\"'”’」』）)》】\]]*\s*")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Segment:
    kind: Kind
    text: str

    def to_json(self) -> dict[str, str]:
        return {"op": self.kind, "text": self.text}


Paragraph = tuple[Segment, ...]
_BREAK = None  # a paragraph break in a stream of segments


@dataclass(frozen=True, kw_only=True)
class VersionDiff:
    """The title compared whole; the body as paragraphs of segments, unchanged stretches cut to "…"."""

    title: Paragraph
    paragraphs: tuple[Paragraph, ...]

    @property
    def changed(self) -> bool:
        return any(s.kind in ("insert", "delete") for s in (*self.title, *(s for p in self.paragraphs for s in p)))

    @property
    def title_changed(self) -> bool:
        return any(s.kind != "equal" for s in self.title)

    def to_json(self) -> dict[str, Any]:
        return {"title": [s.to_json() for s in self.title], "paragraphs": [[s.to_json() for s in p] for p in self.paragraphs]}


@dataclass(frozen=True)
class _Token:
    key: str  # what is compared: NFC, no white space; "\n" for a paragraph break
    shown: str  # what is shown: the token and the white space after it


@dataclass(frozen=True)
class _Sentence:
    key: str
    tokens: tuple[_Token, ...]  # ending with a break token when the sentence ends its paragraph


def _key(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFC", text))


def _tokens(text: str) -> list[_Token]:
    """Tokens, each shown with the white space that follows it."""
    matches = list(_TOKEN.finditer(text))
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return [_Token(_key(m[0]), text[m.start() : end]) for m, end in zip(matches, ends, strict=True)]


def _paragraphs_of(text: str) -> list[list[_Sentence]]:
    paragraphs = []
    for line in unicodedata.normalize("NFC", text).splitlines():  # NFC first: a letter and its accent stay one token
        line = line.strip()
        ends = [m.end() for m in _SENTENCE_END.finditer(line) if m.end() > m.start()]
        bounds = [0, *(end for end in ends if 0 < end < len(line)), len(line)]
        parts = [line[start:end] for start, end in pairwise(bounds) if line[start:end].strip()]
        if parts:
            sentences = [_Sentence(_key(part), tuple(_tokens(part))) for part in parts]
            sentences[-1] = _Sentence(sentences[-1].key, (*sentences[-1].tokens, _Token("\n", "")))
            paragraphs.append(sentences)
    return paragraphs


def _emit(kind: Kind, tokens: Iterable[_Token]) -> list[Segment | None]:
    stream: list[Segment | None] = [_BREAK if token.key == "\n" else Segment(kind, token.shown) for token in tokens]
    if kind == "equal":
        return stream
    for last in range(len(stream) - 1, -1, -1):  # the white space after a change is not part of it: "[-brown-] fox"
        segment = stream[last]
        if segment is not None:
            text = segment.text.rstrip()
            if text != segment.text:
                stream[last : last + 1] = [Segment(kind, text), Segment("equal", segment.text[len(text) :])]
            break
    return stream


def _length(tokens: Sequence[_Token]) -> int:
    return sum(len(t.key) for t in tokens)


def _compare_run(old: Sequence[_Token], new: Sequence[_Token]) -> list[Segment | None]:
    """Token by token within changed sentences; small islands of sameness between changes are folded into
    them (as diff-match-patch's semantic clean-up does), so that a rewritten sentence does not come out in shreds."""
    whole = _emit("delete", old) + _emit("insert", new)
    if len(old) * len(new) > _MAX_PAIRS:
        return whole
    matcher = SequenceMatcher(None, [t.key for t in old], [t.key for t in new], autojunk=False)
    if matcher.ratio() < _FRAGMENTS:
        return whole
    runs = [(tag == "equal", list(old[i1:i2]), list(new[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]
    index = 1
    while index < len(runs) - 1:
        (same, island, twin), before, after = runs[index], runs[index - 1], runs[index + 1]
        size = 2 * _length(island)  # folded only when the changes either side are twice its length
        if same and "\n" not in (t.key for t in island) and size <= max(map(_length, before[1:])) and size <= max(map(_length, after[1:])):
            runs[index - 1 : index + 2] = [(False, before[1] + island + after[1], before[2] + twin + after[2])]
            index = max(1, index - 1)
        else:
            index += 1
    stream: list[Segment | None] = []
    for same, old_part, new_part in runs:
        stream += _emit("equal", new_part) if same else _emit("delete", old_part) + _emit("insert", new_part)
    return stream


def _paragraphs(stream: Iterable[Segment | None]) -> tuple[Paragraph, ...]:
    """Split at breaks, join neighbours of one kind, drop empty paragraphs and repeated gaps."""
    paragraphs: list[list[Segment]] = [[]]
    for segment in stream:
        if segment is _BREAK:
            paragraphs.append([])
        elif paragraphs[-1] and paragraphs[-1][-1].kind == segment.kind:
            paragraphs[-1][-1] = Segment(segment.kind, paragraphs[-1][-1].text + segment.text)
        else:
            paragraphs[-1].append(segment)
    result: list[Paragraph] = []
    for paragraph in paragraphs:
        if paragraph and not (result and paragraph == [Segment("gap", GAP)] == list(result[-1])):
            result.append(tuple(Segment(s.kind, s.text.rstrip()) if i == len(paragraph) - 1 else s for i, s in enumerate(paragraph)))
    return tuple(result)


def _align(before: list[_Sentence], after: list[_Sentence]) -> list[tuple[bool, list[Segment | None], bool]]:
    """(changed, segments, ends a paragraph) per unchanged, added or removed sentence, or per run of changed ones."""
    matcher = SequenceMatcher(None, [s.key for s in before], [s.key for s in after], autojunk=False)
    items: list[tuple[bool, list[Segment | None], bool]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "insert"):
            kind: Kind = "equal" if tag == "equal" else "insert"
            items += [(tag == "insert", _emit(kind, s.tokens), s.tokens[-1].key == "\n") for s in after[j1:j2]]
        elif tag == "delete":
            items += [(True, _emit("delete", s.tokens), s.tokens[-1].key == "\n") for s in before[i1:i2]]
        else:
            old_tokens = [t for s in before[i1:i2] for t in s.tokens]
            new_tokens = [t for s in after[j1:j2] for t in s.tokens]
            items.append((True, _compare_run(old_tokens, new_tokens), new_tokens[-1].key == "\n"))
    return items


def diff_texts(old: str, new: str, *, context: int = CONTEXT) -> tuple[Paragraph, ...]:
    """The differences between two plain texts (one paragraph per line); () when they differ only in white space."""
    # Paragraphs first, then sentences within changed paragraphs: a sentence that recurs (a dateline, a stock phrase)
    # is not matched across paragraphs, which would turn one removed paragraph into two half-removed ones.
    before, after = _paragraphs_of(old), _paragraphs_of(new)
    matcher = SequenceMatcher(None, ["".join(s.key for s in p) for p in before], ["".join(s.key for s in p) for p in after], autojunk=False)
    items = [
        item
        for _, i1, i2, j1, j2 in matcher.get_opcodes()
        for item in _align([s for p in before[i1:i2] for s in p], [s for p in after[j1:j2] for s in p])
    ]
    changed = [index for index, item in enumerate(items) if item[0]]
    if not changed:
        return ()
    kept = {near for index in changed for near in range(index - context, index + context + 1)}
    stream: list[Segment | None] = []
    index = 0
    while index < len(items):
        if index in kept:
            stream += items[index][1]
            index += 1
            continue
        skipped = []
        while index < len(items) and index not in kept:
            skipped.append(items[index])
            index += 1
        stream.append(Segment("gap", GAP))
        if any(item[2] for item in skipped):
            stream.append(_BREAK)
            if not skipped[-1][2]:
                stream.append(Segment("gap", GAP))  # the next shown sentence is not its paragraph's first
    return _paragraphs(stream)


def diff_versions(old_title: str, old_text: str, new_title: str, new_text: str, *, context: int = CONTEXT) -> VersionDiff:
    if _key(old_title) == _key(new_title):
        title: Paragraph = (Segment("equal", new_title),)
    else:
        old_tokens, new_tokens = (_tokens(unicodedata.normalize("NFC", title)) for title in (old_title, new_title))
        title = _paragraphs(_compare_run(old_tokens, new_tokens))[0]
    return VersionDiff(title=title, paragraphs=diff_texts(old_text, new_text, context=context))


# rendering ---------------------------------------------------------------------------------------

_TAGS = {"insert": ("<ins>", "</ins>"), "delete": ("<del>", "</del>"), "gap": ('<span class="gap">', "</span>"), "equal": ("", "")}
_MARKERS = {"insert": ("{+", "+}"), "delete": ("[-", "-]"), "gap": ("", ""), "equal": ("", "")}
_STYLES = {"insert": "bold green", "delete": "red strike", "gap": "dim", "equal": ""}


def segments_html(segments: Iterable[Segment]) -> str:
    """Segments as HTML: insertions in <ins>, deletions in <del>, every text escaped."""
    return "".join(_TAGS[s.kind][0] + escape(s.text, quote=False) + _TAGS[s.kind][1] for s in segments)


def segments_text(segments: Iterable[Segment], *, markers: bool) -> Text:
    """Segments for the terminal: green and red, or, with ``markers`` (no colour to be had), {+added+} and [-removed-]."""
    text = Text()
    for segment in segments:
        if markers:
            opening, closing = _MARKERS[segment.kind]
            text.append(opening + segment.text + closing)
        else:
            text.append(segment.text, style=_STYLES[segment.kind])
    return text


# an article's history ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Version:
    path: str  # revisions/<folder>/<id>/<ms>.md, or the article file for the latest
    title: str
    seen_ms: int | None  # when it was first seen; None for the latest version of an imported file
    latest: bool = False
    text: str | None = None  # plain text, once read
    error: str | None = None  # why its file could not be read

    @property
    def id(self) -> str:
        """Names the version in page addresses: its first-seen time in ms."""
        return "latest" if self.seen_ms is None else str(self.seen_ms)

    @property
    def characters(self) -> int | None:
        """Its length: characters but white space."""
        return len(_SPACE.sub("", self.text)) if self.text is not None else None

    def to_json(self) -> dict[str, Any]:
        data = {"id": self.id, "path": self.path, "seen_ms": self.seen_ms, "seen_at": iso(self.seen_ms), "title": self.title}
        return data | {"characters": self.characters, "latest": self.latest, "error": self.error}


def versions_of(row: ArticleRow, revisions: Iterable[tuple[str, str, int]]) -> list[Version]:
    """An article's versions from its index row and ``Index.revisions()``, oldest first, the latest last."""
    earlier = [Version(path=path, title=title, seen_ms=ms) for path, title, ms in revisions]
    return [*earlier, Version(path=row.path, title=row.title, seen_ms=row.updated_ms, latest=True)]


def read_version(archive: Store, version: Version) -> Version:
    """The version with its title and plain text from its file, or with the reason it could not be read."""
    try:
        stored = archive.read(version.path)
    except (OSError, ArticleFileError, UnicodeDecodeError) as exc:
        return replace(version, error=str(exc))
    return replace(version, title=stored.title, text=plain_text(stored.body))


def compare(older: Version, newer: Version) -> VersionDiff:
    return diff_versions(older.title, older.text or "", newer.title, newer.text or "")


@dataclass(frozen=True, kw_only=True)
class History:
    article: ArticleRow
    versions: tuple[Version, ...]  # oldest first

    def changes(self) -> list[tuple[Version, Version, VersionDiff]]:
        """Each readable version against the readable one before it."""
        readable = [v for v in self.versions if v.error is None]
        return [(older, newer, compare(older, newer)) for older, newer in pairwise(readable)]

    def to_json(self) -> dict[str, Any]:
        row = self.article
        return {
            "article": {"path": row.path, "source": row.source, "file_id": row.file_id, "title": row.title, "link": row.link},
            "versions": [version.to_json() for version in self.versions],
            "changes": [{"from": old.id, "to": new.id, **diff.to_json()} for old, new, diff in self.changes()],
        }


def history(archive: Store, reference: str, *, source: str | None = None) -> History:
    """The versions of the article that ``reference`` names (see ``find_article``), read from their files."""
    row = find_article(archive, reference, source=source)
    return History(article=row, versions=tuple(read_version(archive, v) for v in versions_of(row, archive.index.revisions(row.rowid))))


def find_article(archive: Store, reference: str, *, source: str | None = None) -> ArticleRow:
    """The article named by its original link, its file or page (``articles/rfi/1048574.md``, a revision's
    file too), or its outlet and id (``rfi/1048574``, or the id with ``source``). ConfigError when none or
    several match."""
    from pathlib import Path

    from .normalise import guid_key, link_key
    from .store import layout

    index, reference = archive.index, reference.strip()
    slugs = [source] if source else list(dict.fromkeys([s.slug for s in archive.settings.sources] + index.sources_present()))
    if reference.startswith(("http://", "https://")):
        keys = [key for slug in slugs for key in (link_key(reference, slug), guid_key(slug, reference))]
        rows = list({row.rowid: row for row in index.find_many(keys).values()}.values())
        what = f"the link {reference}"
    elif match := re.fullmatch(r"(?:([^/\s]+)/)?(\d+)", reference):
        rows = [row for slug in ([match[1]] if match[1] else slugs) for row in index.articles_with_id(slug, int(match[2]))]
        what = f"the id {reference}" + (f" in outlet {source!r}" if source and not match[1] else "")
    else:
        on_disk = Path(reference).resolve()  # a file named from the current folder, else a path inside the archive
        path = on_disk.relative_to(archive.root).as_posix() if on_disk.is_file() and archive.root in on_disk.parents else reference
        path = path.removesuffix(".html") + (".md" if path.endswith(".html") else "")
        found = index.revision_at(path) if path.startswith(layout.REVISIONS + "/") else None
        row = index.article_by_rowid(found[0]) if found else index.article_at(path)
        rows, what = [row] if row else [], f"the file {path}"
    if len(rows) == 1:
        return rows[0]
    hint = "give its link, its file (articles/rfi/1048574.md) or outlet and id (rfi/1048574); `newsarchive search` finds articles"
    if not rows:
        raise ConfigError(f"no article in {archive.root} has {what}", hint=hint)
    paths = ", ".join(sorted(row.path for row in rows))
    raise ConfigError(f"{len(rows)} articles have {what}: {paths}", hint="name one by its outlet/id or its file, or pass --source SLUG")
