"""Article bodies made fit for readers: sanitised HTML, the images it shows, and plain text.

Article files keep each outlet's HTML exactly as its feed gave it (FORMAT.md): scripts, inline styles, tracking
pixels, lazy-loading placeholders, relative addresses. None of that may reach a reader's browser, and images must
show without the outlet's JavaScript, so the web reader and the static site both derive their output here:

- ``clean_html`` resolves lazy images, makes addresses absolute, turns iframes into click-to-load video boxes or
  plain links, then sanitises with an allow-list (nh3, i.e. ammonia). nh3 has the last word on safety: the lxml
  pass before it only rewrites, so a mistake there can cost an image, never let a script through.
- ``image_urls`` lists the images ``clean_html`` shows, by the same resolution, for a downloader.
- ``plain_text`` gives the readable text, one paragraph per line, for search and snippets.

lxml parses everything: its HTML parser recovers from any markup without raising, and it stops at 2,048 levels of
nesting (what lies deeper is lost), which also bounds nh3's recursion on hostile input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qs, quote, urlsplit

import ada_url
import lxml.etree
import lxml.html
import nh3

__all__ = ["clean_html", "image_urls", "link_urls", "plain_text"]

# Removed with all they hold, before sanitising and again by nh3: code, foreign content (the usual carriers of
# mutation XSS), plugins, form controls and document-level elements (meta refresh, base).
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "svg", "math", "object", "embed", "applet", "param", "button", "select", "textarea"}
    | {"input", "noembed", "noframes", "frameset", "frame", "xmp", "plaintext", "head", "title", "meta", "link", "base"}
)
# Page-structure containers become plain divs, so that unwrapping them does not run their paragraphs together.
_CONTAINERS = ("section", "article", "main", "header", "footer", "aside", "nav", "address", "center", "details", "summary", "hgroup")

_TAGS = {"p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "figure", "figcaption"}
_TAGS |= {"table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th", "colgroup", "col", "hr", "span", "div", "pre", "code"}
_TAGS |= {"a", "img", "video", "strong", "em", "b", "i", "u", "s", "del", "ins", "small", "mark", "q", "cite", "sub", "sup"}
_ATTRIBUTES = {"*": {"dir", "lang"}, "a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "ol": {"start"}}
_ATTRIBUTES |= {"video": {"src", "poster", "width", "height"}}
_ATTRIBUTES |= {"td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
# Set by the lxml pass and allowed by nh3 with exactly these values. (nh3's set_tag_attribute_values would add them in
# an order that changes from run to run, and the static site must come out the same bytes every time.)
_FORCED = {"img": {"loading": "lazy", "referrerpolicy": "no-referrer"}, "video": {"controls": "", "preload": "none"}}
# Classes the lxml pass gives: an image shown as a link to it (remote_images=False), and the click-to-load box of a
# video (its link opens the video's own page in a new tab: the reader's page never loads anything from the player).
_CLASSES = {"a": {"image-link", "video-link"}, "span": {"video"}}
_VIDEO_SITES = {"youtube": "YouTube", "vimeo": "Vimeo", "facebook": "Facebook"}
_YOUTUBE_ID = re.compile(r"/embed/([\w-]{6,20})")
# Video players: host -> the path prefix of its player. Their frames become a box with a link; any other frame a link.
_VIDEO_PLAYERS = {host: "/embed/" for host in ("www.youtube.com", "youtube.com", "www.youtube-nocookie.com", "youtube-nocookie.com")}
_VIDEO_PLAYERS |= {"player.vimeo.com": "/video/", "www.facebook.com": "/plugins/video.php"}
# Tracking pixels and lazy-load placeholders, matched against host + path of an image address.
_PIXEL = re.compile(
    r"(?:^|\.)(?:doubleclick\.net|google-analytics\.com|googletagmanager\.com|scorecardresearch\.com|quantserve\.com"
    r"|pixel\.wp\.com|stats\.wp\.com)/|^feeds\.feedburner\.com/~|^(?:www\.)?facebook\.com/tr\b"
    r"|/(?:pixel|tracking|tracker|beacon|1x1|blank|spacer|placeholder|lazy-?load)(?:[./?]|$)"
    r"|/\+\+(?:plone|resource|theme)\+\+|^www\.rfa\.org/rfa_resources/"  # RFA's site graphics: the zoom icon under photos
)
_TINY = re.compile(r"\s*[01](?:px)?\s*")  # a width or height of 0 or 1: a pixel or a spacer line
_DIMENSION = re.compile(r"\d{1,5}%?")
_WEB_URL = re.compile(r"https?://[^/?#\s]")
_C0_AND_SPACE = "".join(map(chr, range(33)))  # what browsers strip around an address
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # lxml refuses these in values
# Some RFI bodies (2023) lost the space after the tag name: <imgsrc="data:..." ...>, <sourcetype="image/webp" ...>.
_GLUED_TAG = re.compile(r"<(img|source)(src|srcset|type|alt)=", re.I)
_SRCSET_URL = re.compile(r"[\s,]*(\S*)")
_SRCSET_DESCRIPTOR = re.compile(r"([^,]*),?")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([wx])")
# The archive's own copy of an image (media.py), relative to the page showing it.
_LOCAL_MEDIA = re.compile(r"(?:\.\./)*media/[0-9a-f]{2}/[0-9a-f]{64}\.(?:jpg|png|gif|webp|avif)")


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    """nh3's check on every kept attribute, defence in depth behind the lxml pass: addresses must be absolute
    http(s) (or in-page fragments for links), sizes must be numbers; no frame gets this far (``_rewrite_frames``)."""
    if name in ("href", "src", "poster"):
        if tag == "a" and value.startswith("#"):
            return value
        if tag == "img" and _LOCAL_MEDIA.fullmatch(value):
            return value
        return value if _WEB_URL.match(value) else None
    if name in ("width", "height"):
        return value if _DIMENSION.fullmatch(value.strip()) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags=set(_DROP_WITH_CONTENT | {"noscript", "iframe"}),
    attributes=_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    link_rel="noopener noreferrer nofollow",
    tag_attribute_values={tag: {name: {value} for name, value in forced.items()} for tag, forced in _FORCED.items()}
    | {"a": {"class": _CLASSES["a"], "target": {"_blank"}}, "span": {"class": _CLASSES["span"]}},
    url_schemes={"http", "https"},
)


def clean_html(body: str, base_url: str, *, remote_images: bool = True, local: Mapping[str, str] | None = None) -> str:
    """The body as safe HTML: images resolved and absolute, links absolute, known video players as a box with a
    link to the video (no frame: nothing loads from the player until the reader follows the link), everything
    else reduced to an allow-list of readable structure. With ``remote_images`` False each image and video becomes
    a link to it, so a reader's browser contacts no outlet.
    ``local`` maps image addresses to the archive's copies (media/…, relative to the page): those are shown
    whatever ``remote_images`` says, each linking to its original."""
    root = _rewrite(body, base_url)
    local = local or {}
    for image in list(root.iter("img")) if local else ():
        original = image.get("src", "")
        if original in local:
            image.set("src", local[original])
            if not any(parent.tag == "a" for parent in image.iterancestors()):
                link = lxml.html.Element("a", {"href": original})
                image.getparent().replace(image, link)
                link.append(image)
                link.tail, image.tail = image.tail, None
    if not remote_images:
        for image in list(root.iter("img")):
            if image.get("src", "") in local.values():
                continue  # the archive's own copy: no other host is contacted
            link = lxml.html.Element("a", {"href": image.get("src", ""), "class": "image-link"})
            link.text, link.tail = image.get("alt") or "图片 Image", image.tail
            image.getparent().replace(image, link)
        for video in list(root.iter("video")):
            link = lxml.html.Element("a", {"href": video.get("src", ""), "class": "image-link"})
            link.text, link.tail = "视频 Video", video.tail
            video.getparent().replace(video, link)
    markup = lxml.html.tostring(root, encoding="unicode")
    return _CLEANER.clean(markup[len("<div>") : -len("</div>")]).strip()


def image_urls(body: str, base_url: str) -> list[str]:
    """The absolute http(s) addresses of the images ``clean_html`` shows, in order, each once."""
    return list(dict.fromkeys(image.get("src") for image in _rewrite(body, base_url).iter("img")))


def link_urls(body: str, base_url: str | None) -> list[str]:
    """The absolute http(s) addresses the body's links point to, in order, each once; relative ones resolved against
    the article's address, in-page (#) links and other schemes (mailto:, javascript:) left out."""
    hrefs = (anchor.get("href") or "" for anchor in _parse(body).iter("a"))
    found = (_absolute(href, base_url or "") for href in hrefs if not href.strip().startswith("#"))
    return list(dict.fromkeys(url for url in found if url))


# For plain_text: elements whose text is not part of the article, elements that end a line, table cells.
_NO_TEXT = _DROP_WITH_CONTENT | {"noscript", "iframe"}
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figure", "figcaption", "tr", "table", "ul", "ol"}
    | {"pre", "hr", "dl", "dt", "dd", "caption", *_CONTAINERS}
)
_SPACES = re.compile(r"[ \t\r\f\v\xa0\u3000]+")
_BREAKS = re.compile(r"\s*\n\s*")


def plain_text(body: str) -> str:
    """The readable text of an HTML body, one paragraph per line: entities decoded, code and comments dropped,
    white space collapsed."""
    parts: list[str] = []
    walker = lxml.etree.iterwalk(_parse(body), events=("start", "end"))
    for event, element in walker:
        tag = element.tag if isinstance(element.tag, str) else None  # None: a comment or processing instruction
        if event == "start":
            if tag in _NO_TEXT:
                walker.skip_subtree()
                continue
            parts.append("\n" if tag in _BLOCKS else " " if tag in ("td", "th") else "")
            if tag is not None and element.text:
                parts.append(element.text)
        else:
            if tag in _BLOCKS:
                parts.append("\n")
            if element.tail:
                parts.append(element.tail)
    return _BREAKS.sub("\n", _SPACES.sub(" ", "".join(parts))).strip()


def _parse(body: str) -> lxml.html.HtmlElement:
    """The body under one <div>; lxml recovers from any markup, so this never raises."""
    # huge_tree: sloppy bodies can leave hundreds of <span>s open, deeper than the default limit of 256 levels. A
    # parser per call, because lxml parsers are not to be shared between threads (the web reader has several).
    parser = lxml.html.HTMLParser(huge_tree=True)
    return lxml.html.fragment_fromstring(_GLUED_TAG.sub(r"<\1 \2=", _NOT_XML.sub("", body)), create_parent="div", parser=parser)


def _rewrite(body: str, base_url: str) -> lxml.html.HtmlElement:
    """The lxml pass shared by clean_html and image_urls: drop what never reaches a reader, then resolve frames,
    images and links. Comments go too: should lxml and nh3 disagree on where one ends, what lxml took for comment
    text is gone instead of reaching nh3 unresolved."""
    root = _parse(body)
    for element in list(root.iter(*_DROP_WITH_CONTENT, lxml.etree.Comment, lxml.etree.ProcessingInstruction)):
        element.drop_tree()
    for element in root.iter(*_CONTAINERS):
        element.tag = "div"
    for element in root.iter("image"):
        element.tag = "img"  # HTML parsers in browsers (and nh3's) read <image> as <img>
    _rewrite_frames(root, base_url)  # first: a <video> may hold fallback images, which go with its content
    _resolve_images(root, base_url)
    for link in root.iter("a"):
        if link.get("class") != "video-link":
            link.attrib.pop("target", None)  # only a video's link opens a new tab
        href = link.get("href")
        if href is not None:
            url = href.strip() if href.strip().startswith("#") else _absolute(href, base_url)
            if url is None:
                del link.attrib["href"]
            else:
                link.set("href", url)
    return root


def _resolve_images(root: lxml.html.HtmlElement, base_url: str) -> None:
    """Give every image its real absolute address and no other attributes than alt, width and height; drop
    pixels, placeholders and images with no usable address."""
    for noscript in list(root.iter("noscript")):
        fallback = next(noscript.iter("img"), None)
        outer = _outer_image(noscript)
        if fallback is not None and (outer is None or _image_source(outer, base_url) is None):
            if outer is not None:
                outer.drop_tree()
            fallback.tail, noscript.tail = noscript.tail, None
            noscript.addnext(fallback)
        noscript.drop_tree()  # what is left: a copy of a lazy image already resolved, or no image at all
    for image in list(root.iter("img")):
        src = _image_source(image, base_url)
        if src is None:
            image.drop_tree()
        else:
            _reset(image, src=src, alt=image.get("alt"), **_size(image), **_FORCED["img"])


def _outer_image(noscript: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    """The lazy image a <noscript> stands in for: the element just before it, or the last image inside that."""
    before = noscript.getprevious()  # an element: comments are gone by now
    if before is None or before.tag == "img":
        return before
    return next(reversed(list(before.iter("img"))), None)


def _image_source(image: lxml.html.HtmlElement, base_url: str) -> str | None:
    """The first usable address among the image's candidates, best first; None for a pixel or spacer."""
    if any(_TINY.fullmatch(image.get(side, "")) for side in ("width", "height")):
        return None
    for candidate in _image_candidates(image):
        url = _absolute(candidate, base_url)
        parts = urlsplit(url or "")
        if url is not None and not _PIXEL.search(f"{parts.hostname}{parts.path.lower()}"):
            return url
    return None


def _image_candidates(image: lxml.html.HtmlElement) -> Iterator[str | None]:
    # Lazy-loading attributes first: when they exist, src is a placeholder. Then src before srcset: the mirrors
    # (feedx) route src through images.weserv.nl and leave srcset on the origin host, which readers in China
    # often cannot reach. Last, the <source> elements of a <picture> around an image without an address.
    yield _rfi_dataset(image.get("data-image-dataset"))
    yield from (image.get(name) for name in ("data-src", "data-original", "data-lazy-src", "data-actualsrc"))
    yield _largest(image.get("data-srcset") or image.get("data-lazy-srcset"))
    yield image.get("src")
    yield _largest(image.get("srcset"))
    picture = next(image.iterancestors("picture"), None)  # lxml does not know <source> is empty: it may hold the image
    if picture is not None:
        yield from (_largest(source.get("srcset") or source.get("data-srcset")) for source in picture.iter("source"))


def _rfi_dataset(value: str | None) -> str | None:
    """RFI's lazy images carry data-image-dataset='{"url": "https://s.rfi.fr/media/display/<id>/", "filename":
    "x.jpg", "ratio": "p:4x3", "displayFormat": "original"}'; url + filename is the full-size original (RFI's
    own <noscript> fallback uses exactly that)."""
    try:
        data = json.loads(value or "null")
    except (ValueError, RecursionError):
        return None
    url, name = (data.get("url"), data.get("filename")) if isinstance(data, dict) else (None, None)
    if isinstance(url, str) and isinstance(name, str):
        return url.rstrip("/") + "/" + quote(name, safe="%/:@!$&'()*+,;=~")
    return None


def _largest(srcset: str | None) -> str | None:
    """The largest candidate of a srcset (by width, else by density), parsed as the HTML standard does: an
    address runs to white space, and commas inside it belong to it unless they end it."""
    best, best_size, position = None, (-1, -1.0), 0
    while srcset and (match := _SRCSET_URL.match(srcset, position)) and match.group(1):
        url, position = match.group(1), match.end()
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            described = _SRCSET_DESCRIPTOR.match(srcset, position)
            assert described is not None  # the pattern matches any text, even none
            descriptor, position = described.group(1), described.end()
        size_match = _SIZE.search(descriptor.lower())
        size = (1 if size_match[2] == "w" else 0, float(size_match[1])) if size_match else (0, 1.0)
        if url and size > best_size:
            best, best_size = url, size
    return best


def _absolute(value: str | None, base_url: str) -> str | None:
    """The absolute http(s) address an attribute value stands for, as a browser resolves and serialises it (ada
    is a WHATWG URL parser), or None when there is none: data:, javascript:, relative without a base, garbage."""
    value = (value or "").strip(_C0_AND_SPACE)
    if not value:
        return None  # not the base itself, which is what an empty address resolves to
    if value.startswith("//"):
        value = "https:" + value
    try:
        url = ada_url.join_url(base_url, value) if base_url else ada_url.URL(value).href
    except ValueError:
        return None
    return url if _WEB_URL.match(url) else None


def _video_player(url: str | None) -> str | None:
    """The https address of a known video player, or None for any other frame."""
    try:
        parts = urlsplit(url or "")
        prefix = _VIDEO_PLAYERS.get(parts.hostname or "")
        if prefix is None or parts.scheme not in ("http", "https") or parts.port is not None or not parts.path.startswith(prefix):
            return None
    except ValueError:
        return None
    return f"https://{parts.hostname}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _video_page(player: str) -> tuple[str, str]:
    """(the video's own page, the site's name) for a player address from ``_video_player``."""
    parts = urlsplit(player)
    site = next(name for key, name in _VIDEO_SITES.items() if key in (parts.hostname or ""))
    if site == "YouTube" and (found := _YOUTUBE_ID.match(parts.path)):
        return f"https://www.youtube.com/watch?v={found[1]}", site
    if site == "Vimeo" and parts.path.removeprefix("/video/").isdigit():
        return "https://vimeo.com/" + parts.path.removeprefix("/video/"), site
    if site == "Facebook":
        href = parse_qs(parts.query).get("href", [""])[0]
        if _video_player(href) is None and urlsplit(href).hostname in ("www.facebook.com", "facebook.com", "fb.watch"):
            return urlsplit(href)._replace(scheme="https").geturl(), site
    return player, site


def _video_box(player: str, title: str | None) -> lxml.html.HtmlElement:
    """A video player's frame as a click-to-load box: its title and a link that opens the video's page in a new tab.
    No frame is left, so the page itself requests nothing from the player (and its CSP allows no frame)."""
    page, site = _video_page(player)
    box = lxml.html.Element("span", {"class": "video"})  # a span (shown as a block): frames sit inside paragraphs too
    box.text = "视频 Video: " + (" ".join((title or "").split()) or site) + " "
    link = lxml.etree.SubElement(box, "a", {"href": page, "class": "video-link", "target": "_blank"})
    link.text = f"在 {site} 观看 Watch on {site} ↗"
    return box


def _rewrite_frames(root: lxml.html.HtmlElement, base_url: str) -> None:
    """Known video players become click-to-load boxes (``_video_box``); any other frame becomes a link to its
    address. Videos keep the browser's controls but nothing that runs or preloads."""
    for frame in list(root.iter("iframe")):
        url = _absolute(frame.get("src") or frame.get("data-src"), base_url)
        player = _video_player(url)
        if player is not None:
            box = _video_box(player, frame.get("title"))
            box.tail, frame.tail = frame.tail, None
            frame.addnext(box)
            frame.drop_tree()
        elif url is not None:
            link = lxml.html.Element("a", href=url)
            link.text = frame.get("title") or url
            link.tail, frame.tail = frame.tail, None
            frame.addnext(link)
            frame.drop_tree()
        else:
            frame.drop_tree()
    for video in list(root.iter("video")):
        source = next((s.get("src") for s in video.iter("source") if s.get("src")), None)
        src = _absolute(video.get("src") or source, base_url)
        if src is None:
            video.drop_tree()
        else:
            poster = _absolute(video.get("poster"), base_url)
            _reset(video, src=src, poster=poster, **_size(video), **_FORCED["video"])


def _size(element: lxml.html.HtmlElement) -> dict[str, str | None]:
    """Width and height when they are numbers (nh3 would drop anything else, and reorder what is left)."""
    return {side: value.strip() for side in ("width", "height") if _DIMENSION.fullmatch((value := element.get(side, "")).strip())}


def _reset(element: lxml.html.HtmlElement, **attributes: str | None) -> None:
    """Empty an element (fallback content is for old browsers) and give it only these attributes, in this order."""
    element.clear(keep_tail=True)
    for name, value in attributes.items():
        if value is not None:
            element.set(name, value)
