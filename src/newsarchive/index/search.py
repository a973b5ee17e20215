"""Full-text search that works for Chinese: tantivy over characters and character pairs.

Text and queries are both cut into units by index/tokens.py (simplified characters, one unit per Chinese
character, one per Latin word or number, lower-cased). Two fields are indexed:
``uni`` holds every unit and answers one-character queries; ``bi`` holds every pair of neighbouring
units, with positions, so a longer query is a phrase of consecutive pairs and matches exactly that
string. Punctuation ends a run of units, so no pair spans it. Several terms must all match.

The search index is derived data in ``.newsarchive/search/``: ``reindex`` rebuilds it from the files.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import SearchError, StorageError
from .tokens import pairs, query_terms, runs, simplified, unit_runs

if TYPE_CHECKING:
    from ..config import SearchConfig

__all__ = [
    "Hit",
    "SearchBackend",
    "SearchDoc",
    "SearchIndex",
    "document_fields",
    "open_search",
    "query_terms",
    "runs",
    "search_present",
    "simplified",
    "snippet",
]

_GAP = "\u2016"  # between runs: a token no query produces
_HIT_CANDIDATES = 5  # score a few times the limit, then break ties by recency
# Two indexing threads, fed by the thread that tokenises, keep two cores busy. The writer's memory is taken
# only as documents come (a small update uses a few MB) and bounds what an import or reindex of any size uses:
# 200 MB kept an import of 20,000 articles under 300 MB in all (295 MB; 337 with 300 MB, at the same speed), where
# 2 GB took an import of 100,000 articles to 1.26 GB for no time saved. A larger budget makes fewer, larger
# segments (less merging) for a build of millions (search_bench).
_WRITER_THREADS = 2
WRITER_MEMORY = 200_000_000
# By date, a term in many documents is first looked for in the last week, quarter and three years before
# the newest article: ordering a million matches by date takes tens of milliseconds, a week's few.
_RECENT_FROM = 20_000  # matches (at most) from which that pays
_RECENT_DAYS = (7, 90, 1095)
_DAY_MS = 86_400_000
# By relevance, a phrase in many documents is first scored in those where its rarest pair scores best: scoring a
# phrase reads its positions in every document that has all its pairs (25 ms for a quarter of a million articles),
# where the best of one pair's documents are found without visiting the rest. From this many matches (at most) it pays.
_PHRASE_FROM = 50_000
_PHRASE_CANDIDATES = (2, 8)  # times the hits wanted, tried in turn before scoring every match
_BOUND_MARGIN = 1.0001  # tantivy's scores are 32-bit floats


def _fields(text: str) -> tuple[str, str]:
    """The ``uni`` and ``bi`` field texts: the units of every run, and their pairs, each run followed by
    a gap (indexing spends much of its time here)."""
    unis: list[str] = []
    bis: list[str] = []
    for run in unit_runs(text):
        if len(run) > 1:
            unis.append(" ".join(run))
            bis.append(" ".join(map("_".join, itertools.pairwise(run))) + " " + _GAP)
        elif run:
            unis.append(run[0])
            bis.append(_GAP)
    if not unis:
        return "", ""
    return f" {_GAP} ".join(unis) + " " + _GAP, " ".join(bis)


def document_fields(title: str, text: str) -> tuple[str, str]:
    """What the tantivy backend indexes of an article: made ahead of time by the workers that stage new articles,
    so that the end of a run only adds them (other backends ignore it)."""
    return _fields(title + "\n" + text)


@dataclass(frozen=True, kw_only=True)
class SearchDoc:
    path: str
    source: str
    title: str
    pub_ms: int
    text: str  # plain text of the body: indexed, not stored (snippets come from the article file)
    # What ``document_fields`` makes of title and text, when a worker process made it already; ``text`` is unused then.
    fields: tuple[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Hit:
    path: str
    source: str
    title: str
    pub_ms: int
    score: float
    snippet: str = ""  # filled from the article file: each match between 【 and 】
    link: str | None = None  # the article's original address, from its file


class SearchIndexError(StorageError, ValueError):
    """The search index cannot be read or written: damaged, its files unreadable, or on a read-only file system
    (tantivy writes a lock file even to read). It is derived data. This is the one place of its message. A ValueError
    too, as tantivy's own errors are, so that code rebuilding a damaged search index catches both alike."""

    hint = "run `newsarchive reindex` to rebuild the search index from the archive's files"

    def __init__(self, path: Path | str, error: Exception) -> None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        read_only = "ReadOnlyFilesystem" in reason or "PermissionDenied" in reason or isinstance(error, PermissionError)
        super().__init__(
            f"{path}: the search index cannot be {'opened without writing to it' if read_only else 'used'}: {reason}",
            path=path,
            hint="search a copy on a writable disk, or the static site (`newsarchive build-site`)" if read_only else None,
        )


class SearchBackend(Protocol):
    """What the store asks of a search engine (``[search] backend``): documents in, hits out. Derived data: the store
    rebuilds it from the articles whenever it is missing, damaged or behind."""

    def documents(self) -> int:
        """How many documents it holds; SearchIndexError when it cannot be read."""
        ...

    def add(self, docs: Iterable[SearchDoc]) -> int:
        """Index these (replacing the documents of the same paths); returns how many. Searchable after ``commit``."""
        ...

    def clear(self) -> None: ...

    def commit(self) -> None: ...

    def search(
        self,
        query: str,
        *,
        source: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 20,
        sort: str = "relevance",
    ) -> list[Hit]: ...

    def count(self, query: str, *, source: str | None = None, since_ms: int | None = None, until_ms: int | None = None) -> int: ...


def open_search(folder: Path, config: SearchConfig) -> SearchBackend:
    """The search engine ``config`` names, its files in ``folder`` (``.newsarchive/search/``); the one place it is opened."""
    return SearchIndex(folder, writer_memory=config.writer_memory_mb * 1_000_000)


def search_present(folder: Path) -> bool:
    """Whether a search index was ever written in ``folder`` (looked at without opening it, which would make one)."""
    return (folder / "meta.json").is_file()


class SearchIndex:
    """``SearchBackend`` on tantivy."""

    def __init__(self, path: Path, *, writer_memory: int = WRITER_MEMORY) -> None:
        import tantivy

        self._tantivy = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("path", stored=True, tokenizer_name="raw")
        builder.add_text_field("source", stored=True, tokenizer_name="raw")
        builder.add_text_field("title", stored=True, index_option="basic", tokenizer_name="raw")
        builder.add_integer_field("pub_ms", stored=True, indexed=True, fast=True)
        builder.add_text_field("uni", tokenizer_name="whitespace", index_option="freq")
        builder.add_text_field("bi", tokenizer_name="whitespace", index_option="position")
        self.schema = builder.build()
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
            self.index = tantivy.Index(self.schema, path=str(path))
        except (ValueError, OSError) as exc:  # tantivy raises ValueError for damaged files
            raise SearchIndexError(path, exc) from exc
        self._writer: Any = None
        self._writer_memory = writer_memory
        self._newest: tuple[tuple[int, int], int | None] | None = None  # (documents, segments) -> newest pub_ms

    def _writer_(self) -> Any:
        if self._writer is None:
            self._writer = self.index.writer(heap_size=self._writer_memory, num_threads=_WRITER_THREADS)
        return self._writer

    def documents(self) -> int:
        try:
            return int(self.index.searcher().num_docs)
        except (ValueError, OSError) as exc:  # tantivy raises plain ValueError ("Data corrupted") and OSError
            raise SearchIndexError(self.path, exc) from exc

    def add(self, docs: Iterable[SearchDoc]) -> int:
        writer = self._writer_()
        count = 0
        for doc in docs:
            uni, bi = doc.fields or document_fields(doc.title, doc.text)
            writer.delete_documents_by_term("path", doc.path)
            writer.add_document(
                self._tantivy.Document(path=doc.path, source=doc.source, title=doc.title, pub_ms=doc.pub_ms, uni=uni, bi=bi)
            )
            count += 1
        return count

    def clear(self) -> None:
        self._writer_().delete_all_documents()

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
        self.index.reload()
        self._newest = None

    def search(
        self,
        query: str,
        *,
        source: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 20,
        sort: str = "relevance",
    ) -> list[Hit]:
        """Hits for ``query`` (all terms must match; quote a term to keep its spaces), best first, or
        newest first with ``sort="date"``."""
        try:
            return self._search(query, source=source, since_ms=since_ms, until_ms=until_ms, limit=limit, sort=sort)
        except (ValueError, OSError) as exc:  # tantivy raises ValueError ("Data corrupted") for damaged files
            raise SearchIndexError(self.path, exc) from exc

    def _search(self, query: str, *, source: str | None, since_ms: int | None, until_ms: int | None, limit: int, sort: str) -> list[Hit]:
        term_runs, clauses, combined = self._query(query, source, since_ms, until_ms)
        searcher = self.index.searcher()
        if sort == "date":
            found = self._newest_first(searcher, clauses, combined, term_runs, limit, since_ms)
        else:
            wanted = limit * _HIT_CANDIDATES
            best = None
            if len(clauses) == 1 and len(term_runs[0]) > 2 and self._matches_at_most(searcher, term_runs) >= _PHRASE_FROM:
                best = self._best_of_phrase(searcher, term_runs[0], combined, wanted)
            if best is None:
                best = searcher.search(combined, wanted, count=False).hits
            found = self._best(searcher, best)[:limit]
        hits = []
        for score, address in found:  # only the hits returned are read from the store
            stored = searcher.doc(address)
            hits.append(
                Hit(
                    path=stored["path"][0],
                    source=stored["source"][0],
                    title=stored["title"][0],
                    pub_ms=stored["pub_ms"][0],
                    score=float(score),
                )
            )
        return hits

    def count(self, query: str, *, source: str | None = None, since_ms: int | None = None, until_ms: int | None = None) -> int:
        """How many articles match ``query`` (``search`` returns only the best or newest of them)."""
        _, _, combined = self._query(query, source, since_ms, until_ms)
        try:
            found: Any = self.index.searcher().search(combined, 1, count=True)  # (its type stub lacks .count)
        except (ValueError, OSError) as exc:
            raise SearchIndexError(self.path, exc) from exc
        return int(found.count)

    def _query(
        self, query: str, source: str | None, since_ms: int | None, until_ms: int | None
    ) -> tuple[list[list[str]], list[tuple[Any, Any]], Any]:
        """The query's runs of characters, its clauses, and the clauses as one query."""
        tantivy = self._tantivy
        term_runs = [run for term in query_terms(query) for run in runs(term)]
        clauses = [(tantivy.Occur.Must, self._term_query(run)) for run in term_runs]
        if not clauses:
            raise SearchError(f"{query!r}: nothing to search for", hint="give a word, a name or a few characters")
        if source:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "source", source)))
        if since_ms is not None or until_ms is not None:
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.range_query(self.schema, "pub_ms", tantivy.FieldType.Integer, since_ms, until_ms))
            )
        # One clause is searched as it is, not inside a boolean query: the same scores, but tantivy can then
        # skip the documents that cannot reach the best ones. No count of all matches is asked for either.
        combined = clauses[0][1] if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)
        return term_runs, clauses, combined

    def _newest_first(
        self, searcher: Any, clauses: list[tuple[Any, Any]], combined: Any, term_runs: list[list[str]], limit: int, since_ms: int | None
    ) -> list[tuple[Any, Any]]:
        """The newest ``limit`` matches. A frequent term is first looked for in recent stretches of time: when
        one holds ``limit`` matches, they are the newest of all, since every match outside it is older."""
        tantivy = self._tantivy
        if self._matches_at_most(searcher, term_runs) >= _RECENT_FROM and (newest := self._newest_of(searcher)) is not None:
            for days in _RECENT_DAYS:
                start = newest - days * _DAY_MS
                if since_ms is not None and start <= since_ms:
                    break
                recent = (tantivy.Occur.Must, tantivy.Query.range_query(self.schema, "pub_ms", tantivy.FieldType.Integer, start, None))
                found: list[tuple[Any, Any]] = searcher.search(
                    tantivy.Query.boolean_query([*clauses, recent]), limit, count=False, order_by_field="pub_ms"
                ).hits
                if len(found) >= limit:
                    return found
        return list(searcher.search(combined, limit, count=False, order_by_field="pub_ms").hits)

    def _matches_at_most(self, searcher: Any, term_runs: list[list[str]]) -> int:
        """A bound on the documents that match all runs: the fewest that hold one of their terms."""
        if not hasattr(searcher, "doc_freq"):
            return _RECENT_FROM
        bound: int = min(
            min(searcher.doc_freq("bi", pair) for pair in pairs(run)) if len(run) > 1 else searcher.doc_freq("uni", run[0])
            for run in term_runs
        )
        return bound

    def _newest_of(self, searcher: Any) -> int | None:
        """The newest pub_ms in the index, remembered until the index changes."""
        key = (int(searcher.num_docs), int(getattr(searcher, "num_segments", 0)))
        if self._newest is None or self._newest[0] != key:
            everything = self._tantivy.Query.all_query()
            if hasattr(searcher, "aggregate"):  # a scan of the dates alone
                newest = searcher.aggregate(everything, {"newest": {"max": {"field": "pub_ms"}}})["newest"]["value"]
            else:
                newest = next((date for date, _ in searcher.search(everything, 1, count=False, order_by_field="pub_ms").hits), None)
            self._newest = (key, None if newest is None else int(newest))
        return self._newest[1]

    def _best_of_phrase(self, searcher: Any, run: list[str], phrase: Any, wanted: int) -> list[tuple[float, Any]] | None:
        """The ``wanted`` best documents for a phrase, scored among those where its rarest pair scores best, or None
        when those may not hold them. The same scores as scoring every match: tantivy scores a phrase as BM25 does a
        term, its pairs' idf summed, and a phrase occurs at most as often as its rarest pair, so its score is at most
        ``bound`` times that pair's; when the ``wanted``-th phrase score found is at least ``bound`` times the lowest
        pair score looked at, no document left out can be better (of documents tied at the last place, either may be
        kept, as when every match is scored)."""
        if not hasattr(searcher, "fast_field_values"):  # tantivy 0.26 and later
            return None
        tantivy = self._tantivy
        run_pairs = pairs(run)
        counts = [int(searcher.doc_freq("bi", pair)) for pair in run_pairs]
        rarest = tantivy.Query.term_query(self.schema, "bi", run_pairs[counts.index(min(counts))])
        bound = None
        for times in _PHRASE_CANDIDATES:
            candidates: list[tuple[float, Any]] = searcher.search(rarest, wanted * times, count=False).hits
            if not candidates:
                return []
            if bound is None:
                documents = _documents_scored(rarest.explain(searcher, candidates[0][1]).to_json())
                # Each pair's idf is at most the rarest's: the pairs' count bounds the ratio when the explanation does not say.
                ratio = len(counts) if documents is None else sum(_idf(n, documents) for n in counts) / _idf(min(counts), documents)
                bound = _BOUND_MARGIN * ratio
            # Documents are named by their dates (a fast field): documents of the same dates come along, scored as well.
            dates = sorted(set(searcher.fast_field_values("pub_ms", [address for _, address in candidates])))
            among = tantivy.Query.const_score_query(tantivy.Query.term_set_query(self.schema, "pub_ms", dates), 0.0)
            found: list[tuple[float, Any]] = searcher.search(
                tantivy.Query.boolean_query([(tantivy.Occur.Must, phrase), (tantivy.Occur.Must, among)]), wanted, count=False
            ).hits
            if len(candidates) < wanted * times or (len(found) == wanted and found[-1][0] >= bound * candidates[-1][0]):
                return found
        return None

    @staticmethod
    def _best(searcher: Any, found: list[tuple[float, Any]]) -> list[tuple[float, Any]]:
        """The candidates best first, the newest first among equal scores (to 3 decimals)."""
        addresses = [address for _, address in found]
        if hasattr(searcher, "fast_field_values"):  # tantivy 0.26 and later: dates without reading the store
            dates = searcher.fast_field_values("pub_ms", addresses)
        else:
            dates = [searcher.doc(address)["pub_ms"][0] for address in addresses]
        order = sorted(range(len(found)), key=lambda n: (-round(float(found[n][0]), 3), -dates[n]))
        return [found[n] for n in order]

    def _term_query(self, run: list[str]) -> Any:
        tantivy = self._tantivy
        if len(run) == 1:
            return tantivy.Query.term_query(self.schema, "uni", run[0])
        run_pairs = pairs(run)
        if len(run_pairs) == 1:
            return tantivy.Query.term_query(self.schema, "bi", run_pairs[0])
        return tantivy.Query.phrase_query(self.schema, "bi", run_pairs)


def _idf(count: int, documents: int) -> float:
    """BM25's inverse document frequency, as tantivy computes it (tests/test_search.py checks that it still does)."""
    return math.log(1 + (documents - count + 0.5) / (count + 0.5))


def _documents_scored(explanation: str) -> int | None:
    """The count of documents in a term's score as tantivy explains it (Lucene's wording), deleted ones not yet merged
    away included; None when it does not say."""
    details = [json.loads(explanation)]
    while details:
        detail = details.pop()
        if str(detail.get("description", "")).startswith("N, "):
            return int(detail["value"])
        details += detail.get("details", [])
    return None


def snippet(text: str, terms: list[str], width: int = 60) -> str:
    """A stretch of ``text`` around the first match, each match between 【 and 】."""
    folded = simplified(text).lower()
    same_length = len(folded) == len(text)
    source = text if same_length else folded
    needles = [simplified(term).lower() for term in terms]
    first = min((i for i in (folded.find(n) for n in needles) if i >= 0), default=0)
    start = max(0, first - width // 3)
    end = min(len(source), start + width)
    piece, folded_piece = source[start:end], folded[start:end]
    marks = []
    for needle in needles:
        at = folded_piece.find(needle)
        while needle and at >= 0:
            marks.append((at, at + len(needle)))
            at = folded_piece.find(needle, at + len(needle))
    out, cursor = [], 0
    for begin, finish in sorted(marks):
        if begin < cursor:
            continue
        out += [piece[cursor:begin], "【", piece[begin:finish], "】"]
        cursor = finish
    out.append(piece[cursor:])
    return ("…" if start else "") + "".join(out).replace("\n", " ") + ("…" if end < len(source) else "")
