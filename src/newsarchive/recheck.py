"""Rechecks of recently seen articles' pages, and the takedowns they find (issue 6).

An article's page is looked at again on a decaying schedule after it was first seen (often in the first hours,
then daily, none after ``recheck.window_days``), a bounded number per run. A page whose main text changed is an
edit and goes through ``Store.apply`` as a new version. A page that is gone (404, 410, or a page that no longer
holds the article's text) is a takedown only when a later run, at least ``recheck.confirm_hours`` on, finds it gone
again; network errors, 5xx, 429, 403 and block pages (captchas, WAF pages) are never a takedown. Confirmed
takedowns are also files, ``takedowns/<folder>/<id>.json``, so that they travel with the archive.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from .config import RecheckConfig
from .errors import SourceError
from .store.takedowns import takedown_path, takedown_record, utc_iso

if TYPE_CHECKING:
    from .fetch import Fetches
    from .fulltext import Rule
    from .index.rows import ArticleRow
    from .store.store import Store

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
GONE_STATUSES = {404: "404", 410: "410"}
# Words of pages that stand between a reader and the article (captchas, WAFs, rate limits): such a page says
# nothing about the article, whatever it holds.
_BLOCK_MARKERS = re.compile(
    r"captcha|cf-challenge|challenge-platform|attention required|just a moment|access denied|are you a robot|unusual traffic"
    r"|request blocked|验证码|安全验证|人机验证|访问受限|訪問受限|请求过于频繁",
    re.IGNORECASE,
)
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_NOT_TEXT = re.compile(r"[\s\W_]+")
TEXT_GONE_SHARE = 0.3  # a page holding less than this share of the article's text pairs no longer has the article

Kind = Literal["unchanged", "edited", "gone", "inconclusive"]


@dataclass(frozen=True)
class Verdict:
    """What one recheck found: ``how`` says how an article is gone, ``detail`` why a check was inconclusive."""

    kind: Kind
    how: str | None = None
    detail: str | None = None
    body: str | None = None  # an edit's new main text (one line of HTML)
    page_hash: str | None = None  # of the page's main text, to see the next edit


def next_check_ms(
    first_seen_ms: int, checks: int, now_ms: int, config: RecheckConfig, schedule: tuple[float, ...] | None = None
) -> int | None:
    """When the next recheck is due after ``checks`` were done, or None once past the window. Counted from now, so
    runs missed while the machine was off do not pile up. ``schedule``: the outlet's own hours between rechecks."""
    hours = schedule or config.schedule_hours
    gap = hours[min(checks, len(hours) - 1)]
    due = now_ms + int(gap * HOUR_MS)
    return due if due <= first_seen_ms + config.window_days * 24 * HOUR_MS else None


def _plain(html: str) -> str:
    return _NOT_TEXT.sub("", _TAGS.sub(" ", html))


def _pairs(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def text_share(article_html: str, page_html: str) -> float:
    """Which share of the article's neighbouring character pairs the page holds (1.0 for an empty article)."""
    wanted = _pairs(_plain(article_html))
    return len(wanted & _pairs(_plain(page_html))) / len(wanted) if wanted else 1.0


def text_hash(body: str) -> str:
    return hashlib.blake2b(_plain(body).encode(), digest_size=16).hexdigest()


def redirected_away(url: str, final_url: str | None) -> bool:
    """Redirects that ended on a home page or on a section above the article (``/news/2026/x`` -> ``/news``): what an
    outlet does with an article it took down."""
    if not final_url or final_url == url:
        return False
    asked, ended = urlsplit(url), urlsplit(final_url)
    section = ended.path.rstrip("/")
    return section == "" or asked.path.rstrip("/").startswith(section + "/")


def classify(
    stored_body: str,
    *,
    url: str,
    body: bytes | None,
    charset: str | None,
    status: int | None,
    error: str | None,
    rule: Rule | None = None,
    final_url: str | None = None,
) -> Verdict:
    """Classify one recheck of an article (``stored_body``, as its file holds it) from its page's answer: the bytes,
    or the status and error of a failed fetch. ``rule``: the outlet's full-text rule, so that the text compared is
    the text full text would store."""
    if error is not None:
        if status in GONE_STATUSES:
            return Verdict("gone", how=GONE_STATUSES[status], detail=error)
        return Verdict("inconclusive", detail=error)  # network error, 5xx, 429 after retries, 403, …: proves nothing
    if body is None:
        return Verdict("unchanged")  # 304: not modified
    if redirected_away(url, final_url):
        return Verdict("gone", how="redirect", detail=f"{url}: redirected to {final_url}")
    from .fulltext import ExtractionError, extract
    from .parse import decode_page

    text, _ = decode_page(body, charset)
    if _BLOCK_MARKERS.search(text[:20_000]) and len(_plain(text)) < max(2_000, len(_plain(stored_body))):
        return Verdict("inconclusive", detail=f"{url}: a block page (captcha or firewall), not the article")
    if text_share(stored_body, text) < TEXT_GONE_SHARE:
        return Verdict("gone", how="text gone", detail=f"{url}: the page no longer holds the article's text")
    try:
        main = extract(body, url=url, charset=charset, rule=rule)
    except ExtractionError as exc:
        return Verdict("inconclusive", detail=f"{url}: {exc}")
    return Verdict("unchanged", body=main, page_hash=text_hash(main))


def _edited(stored_body: str, verdict: Verdict, last_hash: str | None) -> bool:
    """An edit: the page's main text differs from what it was when last read, or (the first time, when the file may
    hold the feed's copy of it) a sentence of the stored text is missing from it."""
    if verdict.page_hash is None or verdict.body is None:
        return False
    if last_hash is not None:
        return verdict.page_hash != last_hash
    page = _plain(verdict.body)
    sentences = (_plain(s) for s in re.split(r"[。！？!?；;\n]|</p>", stored_body))
    return any(len(sentence) >= 8 and sentence not in page for sentence in sentences)


@dataclass
class RecheckReport:
    checked: int = 0
    edited: int = 0
    gone: int = 0  # found gone, waiting for confirmation
    confirmed: int = 0  # takedowns confirmed this run
    inconclusive: int = 0


@dataclass(frozen=True)
class Takedown:
    """One confirmed takedown: the article, and when and how it was found gone."""

    path: str
    source: str
    title: str
    link: str | None
    how: str
    url: str
    detail: str | None
    first_seen_gone_ms: int
    confirmed_ms: int

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "first_seen_gone_at": utc_iso(self.first_seen_gone_ms), "confirmed_at": utc_iso(self.confirmed_ms)}


def takedowns(archive: Store, since_ms: int | None = None) -> list[Takedown]:
    """The confirmed takedowns, newest first (confirmed on or after ``since_ms``)."""
    return [
        Takedown(row.path, row.source, row.title, row.link, how, url, detail, first_ms, confirmed_ms)
        for row, first_ms, confirmed_ms, how, url, detail in archive.index.takedowns(since_ms)
    ]


async def run_rechecks(archive: Store, fetcher: Fetches, now_ms: int, *, every: bool = False) -> RecheckReport:
    """Recheck the due articles (every one inside the window with ``every``), at most ``recheck.per_run``; one
    article's failure never stops the others."""
    config = archive.settings.recheck
    report = RecheckReport()
    if config.per_run == 0:
        return report
    since_ms = now_ms - config.window_days * 24 * HOUR_MS
    first_gap_ms = int(config.schedule_hours[0] * HOUR_MS)
    own = {s.slug: int(s.recheck_schedule[0] * HOUR_MS) for s in archive.settings.sources if s.recheck_schedule}
    due = await asyncio.to_thread(
        archive.index.due_rechecks, since_ms, now_ms, config.per_run, first_gap_ms=first_gap_ms, first_gaps=own, every=every
    )
    answers = await asyncio.gather(*(_fetch(archive, fetcher, row) for row in due))
    for row, answer in zip(due, answers, strict=True):
        try:
            await asyncio.to_thread(_settle, archive, row, answer, now_ms, report)
        except Exception:  # this article's recheck is lost; it is due again next run
            log.warning("%s: recheck failed", row.path, exc_info=True)
    return report


@dataclass(frozen=True)
class _Answer:
    url: str
    body: bytes | None = None
    charset: str | None = None
    status: int | None = None
    error: str | None = None
    final_url: str | None = None
    rule: Rule | None = None  # the outlet's full-text rule: it chose the page's address and reads its text


async def _fetch(archive: Store, fetcher: Fetches, row: ArticleRow) -> _Answer:
    from .fulltext import page_address, rule_for

    source = archive.settings.source(row.source)
    rule = rule_for(row.source, source.fulltext_selector if source else None)
    url = page_address(row.link or "", rule)
    try:
        if source is not None:  # through the outlet's own proxy, with its own headers
            fetcher = fetcher.via(source.proxy)
        headers = source.request_headers() if source else None
        result = await fetcher.fetch(url, untrusted=True, allow_private=bool(source and source.allow_private), headers=headers)
    except SourceError as exc:
        return _Answer(url, status=getattr(exc, "status", None), error=str(exc), rule=rule)
    except Exception as exc:  # whatever it is, only this recheck is inconclusive
        return _Answer(url, error=f"{url}: unexpected {type(exc).__name__}: {exc}", rule=rule)
    return _Answer(url, body=result.body, charset=result.charset, final_url=result.final_url, rule=rule)


def _settle(archive: Store, row: ArticleRow, answer: _Answer, now_ms: int, report: RecheckReport) -> None:
    """Record one recheck (in the thread that may write the archive)."""
    index = archive.index
    stored = archive.read(row).body
    verdict = classify(
        stored,
        url=answer.url,
        body=answer.body,
        charset=answer.charset,
        status=answer.status,
        error=answer.error,
        rule=answer.rule,
        final_url=answer.final_url,
    )
    checks, last_hash = index.recheck_state(row.rowid)
    config = archive.settings.recheck
    source = archive.settings.source(row.source)
    next_ms = next_check_ms(row.first_seen_ms or now_ms, checks, now_ms, config, source.recheck_schedule if source else None)
    report.checked += 1
    status: str = verdict.kind
    page_hash = last_hash
    if verdict.kind == "gone":
        pending = index.takedown(row.rowid)
        if pending is None or (pending[1] is None and now_ms - pending[0] < config.confirm_hours * HOUR_MS):
            with index.atomic():
                if pending is None:
                    index.save_takedown(row.rowid, now_ms, None, verdict.how or "", answer.url, verdict.detail)
                index.save_recheck(row.rowid, now_ms + int(config.confirm_hours * HOUR_MS), checks + 1, f"gone: {verdict.how}", page_hash)
            report.gone += 1
            return
        _confirm(archive, row, pending[0], now_ms, verdict.how or "", answer.url, verdict.detail)
        report.confirmed += 1
        next_ms, status = None, f"gone: {verdict.how}"
    elif verdict.kind == "inconclusive":
        report.inconclusive += 1
        status = f"inconclusive: {verdict.detail}"
        if index.takedown(row.rowid) is not None:  # still to be confirmed: asked again next run
            next_ms = now_ms
    else:
        page_hash = verdict.page_hash
        if _edited(stored, verdict, last_hash) and verdict.body is not None:
            _store_edit(archive, row, verdict.body, now_ms)
            report.edited += 1
            status = "edited"
    with index.atomic():
        if verdict.kind in ("unchanged", "edited"):
            index.forget_takedown(row.rowid)
        index.save_recheck(row.rowid, next_ms, checks + 1, status[:500], page_hash)


def _confirm(archive: Store, row: ArticleRow, first_ms: int, now_ms: int, how: str, url: str, detail: str | None) -> None:
    """The takedown file first, then the index: a crash between them leaves a file the next confirmation rewrites."""
    record = takedown_record(row, first_ms, now_ms, how, url, detail)
    batch = archive.batch()
    batch.write(archive.root / takedown_path(row.path), (json.dumps(record, ensure_ascii=False, indent=1) + "\n").encode())
    batch.commit()
    with archive.index.atomic():
        archive.index.save_takedown(row.rowid, first_ms, now_ms, how, url, detail)
    log.info("%s: removed by the outlet (%s), first seen gone %s", row.path, how, utc_iso(first_ms))


def _store_edit(archive: Store, row: ArticleRow, body: str, now_ms: int) -> None:
    """The page's new text as a new version of the article, through the one writer of articles. The version the
    feeds carry is recorded (as full text records a summary), so that a feed still carrying it, when the feed
    changes for another article, does not bring the text from before the edit back as a newer version."""
    from .index.summaries import Summary
    from .normalise import article_from_file

    source = archive.settings.source(row.source)
    if source is None:
        return
    current = archive.read(row)
    article = article_from_file(row.source, title=current.title, link=row.link, pub_ms=current.pub_ms, body=body)
    fingerprint, text = archive.index.feed_version(row.rowid) or (row.fingerprint, current.body)
    # Recorded before the edit is stored, so that no crash between the two leaves the edit without it; until the
    # edit is stored, the record says what the file holds anyway.
    with archive.index.atomic():
        archive.index.save_summaries([Summary(keys=article.keys, text=text, fingerprint=fingerprint, page=True)])
    archive.apply(source, [article], now_ms)
