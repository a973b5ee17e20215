"""Full text for summary-only feeds: when to fetch an article's page, and the page's main text.

Per outlet, ``fulltext`` says which body an article keeps: the feed's (``feed``), its page's (``page``), or
its page's only when the feed's body is short or looks like a summary (``auto``). The main text is taken by a
cascade judged by one measure, like trafilatura's own: the outlet's rule (a ``fulltext_selector``, or the
built-in rule of a default outlet), then trafilatura; a result must hold about as much text as the feed's body,
else the feed's body stays and a warning says why. Pure: pages come in as bytes, fetched by ``fetch``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import lxml.etree
import lxml.html

from .index.summaries import StoredVersion
from .models import Article
from .parse import decode_page
from .store.fileformat import join_body

SUMMARY_CHARS = 300  # a body with less text than this is a summary (Chinese: a lead paragraph or two)
MAX_PAGES_PER_OUTLET = 100  # pages fetched per outlet in one run, new and changed articles first
MAX_PAGES_PER_RUN = 500
MAX_PAGE_TRIES = 3  # failed page fetches or extractions of one feed version before its feed body is final
ACCEPT_RATIO = 0.9  # page text must hold at least this share of the feed body's text

_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_MORE = re.compile(r"(…|\.\.\.|\[…\]|阅读全文|閱讀全文|继续阅读|繼續閱讀|更多内容|read more|continue reading)\W*$", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_ALWAYS_REMOVE = "script, style, template, form, button, input, select, textarea, link, meta, nav"


def text_length(body: str) -> int:
    """Characters of text in an HTML body, white space not counted."""
    return len(_SPACE.sub("", html.unescape(_TAGS.sub("", body))))


def looks_like_summary(body: str) -> bool:
    """A feed body that is short, or ends as teasers do (an ellipsis, "阅读全文", "Read more")."""
    text = html.unescape(_TAGS.sub(" ", body)).strip()
    return len(_SPACE.sub("", text)) < SUMMARY_CHARS or bool(_MORE.search(text))


# -- rules ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Rule:
    """How to take the main text from one outlet's article pages."""

    body: tuple[str, ...] = ()  # selectors tried in order: every element of the first that matches gives its inner HTML
    lead: tuple[str, ...] = ()  # elements put whole before the body (standfirst, cover image), when outside it
    tail: tuple[str, ...] = ()  # and after it (credits)
    remove: tuple[str, ...] = ()  # ads, promotions, related links
    rename: tuple[tuple[str, str], ...] = ()  # (selector, tag): paragraphs written as <div class=...>
    fix: Callable[[lxml.html.HtmlElement], None] | None = None  # outlet quirks (lazy images) on the whole page
    page_url: Callable[[str], str] | None = None  # the address to fetch for an article link, when not the link
    from_text: Callable[[str], str | None] | None = None  # main text from JSON (an API's or one inside the page)


def _ft_images(root: lxml.html.HtmlElement) -> None:
    # FT pages name their pictures in data-url and let scripts draw them.
    for figure in root.cssselect("div.story-image > figure[data-url]"):
        figure.insert(0, lxml.html.Element("img", src=figure.get("data-url", "")))


def _ft_page(link: str) -> str:
    # The whole story, every part of it, is on the page asked for with ?full=y&archive.
    parts = urlsplit(link)
    params = [p for p in parts.query.split("&") if p]
    params += [p for p in ("full=y", "archive") if p not in params]
    return urlunsplit(parts._replace(query="&".join(params)))


_DW_ARTICLE = re.compile(r"^/([a-z]{2}(?:-[a-z]+)?)/(?:.*/)?a-(\d+)/?$")


def _dw_page(link: str) -> str:
    # DW's own pages are drawn by scripts from its graph API, which gives the article's HTML as JSON.
    parts = urlsplit(link)
    match = _DW_ARTICLE.match(parts.path)
    if match is None:
        return link
    return urlunsplit((parts.scheme, parts.netloc, f"/graph-api/{match[1]}/content/article/{match[2]}", "", ""))


def _dw_text(text: str) -> str | None:
    try:
        content = json.loads(text)["data"]["content"]
        body = content["text"] or ""
    except (ValueError, KeyError, TypeError):
        return None
    teaser = f"<p><strong>{html.escape(content['teaser'])}</strong></p>" if content.get("teaser") else ""
    image = (content.get("mainContentImageLink") or {}).get("targetId")
    cover = f'<img src="https://static.dw.com/image/{int(image)}_605.jpg">' if isinstance(image, int) and f'"{image}"' not in body else ""
    # Pictures in the text are <img data-id="…"> with no address; the image server names them by that id.
    body = re.sub(r'<img([^>]*?)data-id="(\d+)"', r'<img\1data-id="\2" src="https://static.dw.com/image/\2_605.jpg"', body)
    return teaser + cover + body


_ARC_CONTENT = re.compile(r"Fusion\.globalContent\s*=\s*")


def _arc_text(text: str) -> str | None:
    """RFA's Arc XP pages carry the story as ANS JSON (``Fusion.globalContent``): its content elements in order."""
    found = _ARC_CONTENT.search(text)
    if found is None:
        return None
    try:
        story, _ = json.JSONDecoder().raw_decode(text, found.end())
        elements = [((story.get("promo_items") or {}).get("basic") or {}), *story["content_elements"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return "".join(_arc_element(element) for element in elements if isinstance(element, dict)) or None


def _arc_element(element: Mapping[str, Any]) -> str:
    kind, content = element.get("type"), element.get("content") or ""
    if kind == "text":
        return f"<p>{content}</p>"
    if kind == "header":
        level = element.get("level") if element.get("level") in (2, 3, 4, 5, 6) else 2
        return f"<h{level}>{content}</h{level}>"
    if kind == "raw_html":
        return str(content)
    if kind == "image" and element.get("url"):
        caption = f"<figcaption>{html.escape(element['caption'])}</figcaption>" if element.get("caption") else ""
        return f'<figure><img src="{html.escape(element["url"])}" alt="{html.escape(element.get("alt_text") or "")}">{caption}</figure>'
    if kind == "list":
        tag = "ol" if element.get("list_type") == "ordered" else "ul"
        items = "".join(f"<li>{item.get('content') or ''}</li>" for item in element.get("items") or [] if isinstance(item, dict))
        return f"<{tag}>{items}</{tag}>"
    if kind == "quote":
        inner = "".join(_arc_element(part) for part in element.get("content_elements") or [] if isinstance(part, dict))
        return f"<blockquote>{inner}</blockquote>"
    return ""


# The default outlets' article pages, from what RSSHub's routes read (see the project's outlet notes).
RULES: Mapping[str, Rule] = {
    "rfi": Rule(
        lead=(".t-content__chapo", ".t-content__main-media"),
        body=(".t-content__body",),
        remove=(".m-interstitial", ".o-self-promo", ".m-em-quote svg"),
    ),
    "rfa": Rule(from_text=_arc_text, lead=("#headerimg",), body=("div#storytext",)),
    "voa": Rule(lead=("div.cover-media",), body=("div#article-content div.wsw",), remove=(".wsw__embed",)),
    "bbc": Rule(body=('main[role="main"]',), remove=("header", "section", '[data-testid="bbc-logo-wrapper"]', "aside")),
    "dw": Rule(page_url=_dw_page, from_text=_dw_text, body=(".longText",), remove=(".col1",)),
    "nyt": Rule(
        lead=("figure.article-span-photo",),
        body=("section.article-body",),
        tail=("footer.author-info",),
        remove=("div.big_ad", "div.article-body-aside"),
        rename=(("div.article-paragraph", "p"),),
    ),
    "cdt": Rule(body=("div.post-content",), remove=(".sharedaddy", ".jp-relatedposts")),
    "ft": Rule(
        page_url=_ft_page,
        fix=_ft_images,
        body=("div.story-container",),
        remove=(
            "div.story-theme, h1.story-headline, div.story-byline, div.mpu-container-instory, div#story-action-placeholder",
            "div.copyrightstatement-container, div.clearfloat, div.o-ads, h2.list-title, div#subscribe-now-container",
            "div.allcomments, div.logincomment, div.nologincomment",
        ),
    ),
}


def rule_for(slug: str, selector: str | None) -> Rule | None:
    """The outlet's own ``fulltext_selector`` (with what its built-in rule removes), else its built-in rule, else
    None (trafilatura alone)."""
    rule = RULES.get(slug)
    if selector:
        return Rule(body=(selector,), remove=rule.remove if rule else ())
    return rule


def page_address(link: str, rule: Rule | None) -> str:
    return rule.page_url(link) if rule is not None and rule.page_url is not None else link


# -- when to fetch ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Need:
    """What one feed article needs: nothing (``page_url`` None: its feed body stands), its page, or nothing
    because the stored version already holds the page's text for this very feed version (``same``)."""

    page_url: str | None = None
    priority: int = 0  # 0: new or changed in the feed; 1: an earlier failure tried again
    same: bool = False
    etag: str | None = None  # the page's validators, for a conditional GET
    last_modified: str | None = None


KEEP = Need()
SAME = Need(same=True)


def decide(article: Article, stored: StoredVersion | None, mode: str, rule: Rule | None) -> Need:
    """Only articles that are new, or whose feed version changed, get their page fetched; never one stored
    with its page's text for this feed version. A shorter copy from another feed than the one that gave the
    stored version is no change (as ``Archive.apply`` judges it), and needs no page."""
    if mode == "feed" or not article.link:
        return KEEP
    wanted = mode == "page" or looks_like_summary(article.body)
    url = page_address(article.link, rule)
    if stored is None:
        return Need(page_url=url) if wanted else KEEP
    if stored.summary_fingerprint == article.fingerprint:
        if stored.page:
            return SAME
        return Need(page_url=url, priority=1) if wanted and stored.tries < MAX_PAGE_TRIES else KEEP
    if stored.fingerprint == article.fingerprint or not wanted:
        return KEEP
    sibling = stored.origin and article.feed and stored.origin != article.feed
    if sibling and stored.body_length and len(article.body) < stored.body_length:
        return KEEP
    if stored.page:  # the feed's version changed: the page may not have
        return Need(page_url=url, etag=stored.etag, last_modified=stored.last_modified)
    return Need(page_url=url)


@dataclass
class FeedDraft:
    """A feed of an outlet with full text, read and waiting for its pages: what each article needs."""

    url: str
    articles: list[Article]
    needs: list[Need]
    stored: dict[int, StoredVersion] = field(default_factory=dict)
    full_keys: set[str] = field(default_factory=set)  # keys of articles whose feed body is no summary
    warnings: list[str] = field(default_factory=list)


def plan_pages(mode: str, drafts: Sequence[FeedDraft], limit: int) -> dict[str, list[tuple[int, int]]]:
    """The page addresses to fetch for an outlet's feeds, each once, with the (draft, article) places waiting
    for it: new and changed articles first, then the newest, at most ``limit``. In "auto", an article that
    another feed of the outlet carries in full needs no page."""
    covered = set() if mode == "page" else set().union(*(draft.full_keys for draft in drafts))
    waiting: dict[str, list[tuple[int, int, int, int]]] = {}
    for number, draft in enumerate(drafts):
        for index, (article, need) in enumerate(zip(draft.articles, draft.needs, strict=True)):
            if need.page_url is not None and covered.intersection(article.keys):
                draft.needs[index] = KEEP
            elif need.page_url is not None:
                waiting.setdefault(need.page_url, []).append((need.priority, -(article.pub_ms or 0), number, index))
    chosen = sorted(waiting, key=lambda url: min(waiting[url]))[: max(0, limit)]
    return {url: [(number, index) for *_, number, index in sorted(waiting[url])] for url in chosen}


# -- extraction ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Page:
    """An article page as the event loop fetched it: its bytes, or why there are none."""

    url: str
    body: bytes | None = None  # None with no error: not modified since the stored version (304)
    charset: str | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None


class ExtractionError(Exception):
    """The page holds no main text that could be found."""


def extract(page: bytes, *, url: str, charset: str | None = None, rule: Rule | None = None) -> str:
    """The main text of a page as one line of HTML (paragraphs, images, links kept; addresses made absolute):
    the rule first, then trafilatura. Raises ExtractionError saying why there is none."""
    text, _ = decode_page(page, charset)
    if rule is not None and rule.from_text is not None and (found := rule.from_text(text)):
        return join_body(found)
    try:  # lxml refuses text that still declares an encoding (XHTML pages): the bytes are decoded already
        root = lxml.html.document_fromstring(_XML_DECLARATION.sub("", text, count=1))
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"not an HTML page: {exc}") from None
    root.make_links_absolute(url, handle_failures="ignore")
    if rule is not None and (found := _by_rule(root, rule)):
        return join_body(found)
    return join_body(_by_trafilatura(root, url))


def _by_rule(root: lxml.html.HtmlElement, rule: Rule) -> str | None:
    for selector in (_ALWAYS_REMOVE, *rule.remove):
        for element in root.cssselect(selector):
            element.drop_tree()
    for selector, tag in rule.rename:
        for element in root.cssselect(selector):
            element.tag = tag
    if rule.fix is not None:
        rule.fix(root)
    main = next((found for selector in rule.body if (found := _outermost(root.cssselect(selector)))), [])
    if not main:
        return None

    def outside(element: lxml.html.HtmlElement) -> bool:
        return not any(part is element or part in element.iterancestors() for part in main)

    lead = [lxml.html.tostring(e, encoding="unicode", with_tail=False) for s in rule.lead for e in root.cssselect(s)[:1] if outside(e)]
    tail = [lxml.html.tostring(e, encoding="unicode", with_tail=False) for s in rule.tail for e in root.cssselect(s)[:1] if outside(e)]
    body = "".join(_inner(element) for element in main)
    return "".join(lead) + body + "".join(tail) if text_length(body) else None


def _outermost(elements: list[lxml.html.HtmlElement]) -> list[lxml.html.HtmlElement]:
    chosen = set(elements)
    return [element for element in elements if not any(ancestor in chosen for ancestor in element.iterancestors())]


def _inner(element: lxml.html.HtmlElement) -> str:
    return html.escape(element.text or "", quote=False) + "".join(
        lxml.html.tostring(child, encoding="unicode", with_tail=True) for child in element
    )


_BODY = re.compile(r"^\s*<html>\s*<body>(.*)</body>\s*</html>\s*$", re.DOTALL)


def _by_trafilatura(root: lxml.html.HtmlElement, url: str) -> str:
    import trafilatura  # loaded only when a page needs it

    result = trafilatura.extract(
        root,
        url=url,
        output_format="html",
        include_images=True,
        include_links=True,
        include_formatting=True,
        include_tables=True,
        include_comments=False,
    )
    if not result or not text_length(result):
        raise ExtractionError("no main text found (trafilatura)")
    found = _BODY.match(result)
    return found[1] if found else str(result)


@dataclass(frozen=True)
class Taken:
    """The outcome of one page: its main text, or the warning that says why the feed's body stays."""

    body: str | None
    warning: str | None = None


def take_page(article: Article, page: Page, rule: Rule | None) -> Taken:
    """The page's main text for the article's body, if it holds at least about as much text as the feed's; else
    why not (the page's address and the reason)."""
    if page.error is not None:
        return Taken(None, page.error)
    if page.body is None:
        return Taken(None, f"{page.url}: the page was not sent")
    try:
        body = extract(page.body, url=page.url, charset=page.charset, rule=rule)
    except ExtractionError as exc:
        return Taken(None, f"{page.url}: {exc}")
    except Exception as exc:  # a page that breaks a parser must not break its feed
        return Taken(None, f"{page.url}: extraction failed: {type(exc).__name__}: {exc}")
    found, feed = text_length(body), text_length(article.body)
    if found < feed * ACCEPT_RATIO or found == 0:
        return Taken(None, f"{page.url}: the page's main text ({found} characters) is shorter than the feed's ({feed})")
    return Taken(body)
