"""Staging: article files rendered and written by the workers that parsed them, committed by the store.

Parsing, normalising and writing files is most of the work of a large update. Workers (threads, or
processes for large feeds) do it in parallel: they ask the index, read-only, which of their articles
are new or changed, and write just those, rendered, into ``.newsarchive/incoming/``. The store thread
then only decides ids and renames the staged files into place. Whatever a killed run leaves in
``incoming/`` is removed by the next run.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..models import Article
from . import layout
from .atomic import storage_errors
from .fileformat import render_article

INCOMING = f"{layout.HIDDEN}/incoming"
_counter = itertools.count()


@dataclass(frozen=True)
class StagedArticle:
    """An article whose file may already be written: ``staged`` is its path in incoming/, and then the body
    is not carried along (``body_length`` still says how full it was)."""

    article: Article
    body_length: int
    staged: str | None = None
    search_fields: tuple[str, str] | None = None  # what the search index takes of it (index/search.document_fields)


# A worker cuts the articles it stages into search fields (the run's end then only adds them) when a feed brings
# this many or fewer: an hourly run's few, not a first run's thousands, whose fields would be pickled back by the MB.
SEARCH_FIELDS_AT_MOST = 100


def render_bytes(article: Article) -> bytes:
    return render_article(pub_ms=article.pub_ms, title=article.title, link=article.link, body=article.body).encode("utf-8")


def stage_articles(incoming: str, articles: list[Article], known: Mapping[str, str]) -> list[StagedArticle]:
    """Write the new and changed ones of ``articles`` into ``incoming`` (the store's incoming/; no fsync: the store
    syncs the batch). ``known``: key -> the fingerprint of the stored article holding it."""
    with storage_errors(incoming):
        os.makedirs(incoming, exist_ok=True)
    changed = [next((known[key] for key in a.keys if key in known), None) != a.fingerprint for a in articles]
    with_fields = sum(changed) <= SEARCH_FIELDS_AT_MOST
    staged = []
    for article, is_changed in zip(articles, changed, strict=True):
        if not is_changed:
            staged.append(StagedArticle(replace(article, body=""), len(article.body)))
            continue
        path = os.path.join(incoming, f"{article.source}-{article.fingerprint}-{os.getpid()}-{next(_counter)}.md")
        rendered = render_bytes(article)
        with storage_errors(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                data = memoryview(rendered)
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
        fields = _search_fields(article.title, rendered, path) if with_fields else None
        staged.append(StagedArticle(replace(article, body=""), len(article.body), path, fields))
    return staged


def _search_fields(title: str, rendered: bytes, path: str) -> tuple[str, str] | None:
    """What the search index takes of an article, from its file's bytes, as the store would read them back."""
    from ..errors import ArticleFileError
    from ..html import plain_text
    from ..index.search import document_fields
    from .fileformat import parse_article

    try:
        return document_fields(title, plain_text(parse_article(rendered.decode("utf-8"), Path(path)).body))
    except (ArticleFileError, ValueError):  # never expected: then the store reads the file back, as for any other
        return None


def clear_incoming(root: Path) -> None:
    shutil.rmtree(root / INCOMING, ignore_errors=True)
