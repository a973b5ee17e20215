"""What runs in worker threads and processes during an update: parse, normalise, stage; and for outlets
with full text, in two steps around the page fetches of the event loop: read (what each article needs),
then finish (the pages' main text taken, the summaries kept for the index, then staged).

Kept apart from ``pipeline`` so that a worker process imports only what it needs (no HTTP client,
no command line), which keeps its start-up short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from .fetch_paths import is_local_path
from .index.summaries import IndexReader, StoredVersion, Summary
from .models import Article, FeedItem
from .normalise import fingerprint, item_digest, normalise_item
from .parse import parse_feed
from .store.staging import StagedArticle, stage_articles

if TYPE_CHECKING:
    from .fulltext import FeedDraft, Page


def normalise_feed(
    data: bytes, url: str, charset: str | None, slug: str, seen_ms: int, max_items: int | None = None
) -> tuple[list[Article], list[str]]:
    """Stages 3 and 4 for one feed: its articles (the first ``max_items``) and the parser's warnings. Asks nothing of
    the archive, so a worker of a cluster (cluster.py) runs it on any machine."""
    items, warnings, base = _read_items(data, url, charset, max_items)
    return [normalise_item(item, source=slug, seen_ms=seen_ms, base_url=base, feed=url) for item in items], warnings


def _read_items(data: bytes, url: str, charset: str | None, max_items: int | None) -> tuple[tuple[FeedItem, ...], list[str], str | None]:
    """Stage 3 for one feed: its items (the first ``max_items``), the parser's warnings, and the base of its links."""
    parsed = parse_feed(data, url=url, http_charset=charset)
    items = parsed.items[:max_items] if max_items else parsed.items
    return items, list(parsed.warnings), None if is_local_path(url) else url


def prepare_feed(
    data: bytes,
    url: str,
    charset: str | None,
    slug: str,
    seen_ms: int,
    reader: IndexReader,
    incoming: str,
    max_items: int | None = None,
) -> tuple[list[StagedArticle], list[str], list[int]]:
    """Stages 3 and 4 for one feed, and the files of its new and changed articles staged (``stage_feed``). Items the
    archive has read before as they are, that gave or matched the version stored (``item_digest``), are not read
    again: the third value, their articles. In an hourly run that is most of a feed, and normalising them was most of
    a worker's time."""
    items, warnings, base = _read_items(data, url, charset, max_items)
    digests = [item_digest(item, source=slug, feed=url) for item in items]
    known = reader.known_items(digests)
    articles = [
        normalise_item(item, source=slug, seen_ms=seen_ms, base_url=base, feed=url, digest=digest)
        for item, digest in zip(items, digests, strict=True)
        if digest not in known
    ]
    staged, warnings = stage_feed(articles, warnings, reader, incoming)
    return staged, warnings, [known[digest] for digest in digests if digest in known]


def stage_feed(articles: list[Article], warnings: list[str], reader: IndexReader, incoming: str) -> tuple[list[StagedArticle], list[str]]:
    """The files of a feed's new and changed articles staged. An article stored with its page's text for this very
    feed version (full text, before the outlet was set to the feed's body) stays."""
    known = reader.stored([key for a in articles for key in a.keys])
    plain: list[Article] = []
    held: list[StagedArticle] = []
    for article in articles:
        stored = next((known[key] for key in article.keys if key in known), None)
        if stored is not None and stored.page and stored.summary_fingerprint == article.fingerprint:
            held.append(_as_stored(article, stored))
        else:
            plain.append(article)
    return stage_articles(incoming, plain, _fingerprints(known)) + held, warnings


def read_feed(
    data: bytes,
    url: str,
    charset: str | None,
    slug: str,
    seen_ms: int,
    reader: IndexReader,
    mode: str,
    selector: str | None,
    max_items: int | None = None,
) -> FeedDraft:
    """Stages 3 and 4 for one feed of an outlet with full text, and which of its articles need their page."""
    articles, warnings = normalise_feed(data, url, charset, slug, seen_ms, max_items)
    return draft_feed(url, articles, warnings, reader, slug, mode, selector)


def draft_feed(
    url: str, articles: list[Article], warnings: list[str], reader: IndexReader, slug: str, mode: str, selector: str | None
) -> FeedDraft:
    """Which of a feed's articles need their page (an outlet with full text), from what the archive holds of them."""
    from .fulltext import FeedDraft, decide, looks_like_summary, rule_for

    known = reader.stored([key for a in articles for key in a.keys])
    rule = rule_for(slug, selector)
    draft = FeedDraft(url, articles, [], warnings=warnings)
    for index, article in enumerate(articles):
        stored = next((known[key] for key in article.keys if key in known), None)
        if stored is not None:
            draft.stored[index] = stored
        draft.needs.append(decide(article, stored, mode, rule))
        if not looks_like_summary(article.body):
            draft.full_keys.update(article.keys)
    return draft


def finish_feed(
    draft: FeedDraft, pages: Mapping[int, Page], incoming: str, slug: str, selector: str | None
) -> tuple[list[StagedArticle], list[str], list[Summary]]:
    """Take the fetched pages' main text into their articles and stage what is new or changed. An article whose
    stored version holds its page's text keeps it when the page cannot be had now: a summary never replaces it."""
    from .fulltext import rule_for, take_page

    rule = rule_for(slug, selector)
    plain: list[Article] = []
    held: list[StagedArticle] = []
    warnings: list[str] = []
    summaries: list[Summary] = []
    for index, (article, need) in enumerate(zip(draft.articles, draft.needs, strict=True)):
        stored = draft.stored.get(index)
        page = pages.get(index) if need.page_url else None
        if need.same or (stored is not None and stored.page and need.page_url and (page is None or page.error)):
            held.append(_as_stored(article, stored))
            if page is not None and page.error:
                warnings.append(f"{article.link}: full text not taken, the stored full text kept: {page.error}")
            continue
        if need.page_url is None:
            plain.append(article)
            continue
        summary = Summary(keys=article.keys, text=article.body, fingerprint=article.fingerprint, page=True)
        if page is None:  # over this run's bound of pages: a later run takes it
            tries = stored.tries if stored is not None and stored.summary_fingerprint == article.fingerprint else 0
            plain.append(article)
            summaries.append(replace(summary, page=False, tries=tries))
            continue
        if page.body is None and page.error is None and stored is not None:  # 304: the page is as stored
            held.append(_as_stored(article, stored))
            summaries.append(replace(summary, etag=page.etag or need.etag, last_modified=page.last_modified or need.last_modified))
            continue
        taken = take_page(article, page, rule)
        if taken.body is None:
            kept = "the stored full text" if stored is not None and stored.page else "the feed's body"
            warnings.append(f"{article.link}: full text not taken, {kept} kept: {taken.warning}")
            if stored is not None and stored.page:
                held.append(_as_stored(article, stored))
                continue
            retried = stored is not None and stored.summary_fingerprint == article.fingerprint
            plain.append(article)
            summaries.append(replace(summary, page=False, tries=(stored.tries if stored is not None and retried else 0) + 1))
            continue
        plain.append(replace(article, body=taken.body, fingerprint=fingerprint(article.title, taken.body)))
        summaries.append(replace(summary, etag=page.etag, last_modified=page.last_modified))
    known = {key: stored.fingerprint for index, stored in draft.stored.items() for key in draft.articles[index].keys}
    return stage_articles(incoming, plain, known) + held, warnings, summaries


def _fingerprints(known: Mapping[str, StoredVersion]) -> dict[str, str]:
    return {key: stored.fingerprint for key, stored in known.items()}


def _as_stored(article: Article, stored: StoredVersion | None) -> StagedArticle:
    """The article as its stored version stands: nothing to write, and the store finds it unchanged."""
    if stored is None:
        raise ValueError(f"{article.link}: no stored version to keep")
    return StagedArticle(replace(article, body="", fingerprint=stored.fingerprint), stored.body_length or 0)
