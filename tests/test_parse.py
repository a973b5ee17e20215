"""Stage 3 on bytes: every feed dialect and encoding, the fast path agreeing with feedparser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsarchive.errors import FeedError
from newsarchive.models import FeedItem
from newsarchive.normalise import normalise_item
from newsarchive.parse import _as_utf8, _parse_feedparser, _text_of_html, decode_feed, parse_date, parse_feed
from newsarchive.store.fileformat import join_body

FEEDS = Path(__file__).parent / "feeds"


def parse(name: str):
    return parse_feed((FEEDS / name).read_bytes(), url=name)


def test_rss2_prefers_content_encoded_over_description() -> None:
    feed = parse("rss_content.xml")
    assert feed.parser == "lxml" and not feed.warnings
    first = feed.items[0]
    assert first.title == "城市公园新增夜间照明"
    assert first.link == "https://example.org/news/2026/03/park-lights"
    assert first.published_ms == 1772409600000
    assert "两百余盏节能路灯" in first.body and "\n\t" in first.body  # raw, lines joined later


def test_atom_content_kinds_and_html_title() -> None:
    items = parse("atom.xml").items
    assert [i.title for i in items] == ["XHTML 正文条目", "HTML 正文条目", "仅有摘要的条目", "粗体标题测试"]
    assert join_body(items[0].body) == "<p>这是一个使用 XHTML 内容类型的条目，第一段。</p><p>第二段包含<em>强调</em>文字。</p>"
    assert items[1].body.startswith("<p>这是一个使用转义 HTML 的条目。</p>")
    assert items[2].body == "本条目没有 content 元素，只有一段纯文本摘要。"
    assert items[0].guid == "tag:example.org,2026:atom-xhtml"


def test_description_only_undated_and_guid_as_link() -> None:
    items = parse("description_only.xml").items
    assert items[1].published_ms is None
    assert items[2].link == "https://example.org/desc/permalink-guid"
    assert items[0].body == "<p>市图书馆宣布，自下月起周六、周日开放至晚上九点。</p><p>自习区座位将增加一百个。</p>"


def test_rdf_dates_come_from_dc_date() -> None:
    items = parse("rdf.xml").items
    assert [i.link for i in items] == ["https://example.org/rdf/first", "https://example.org/rdf/second"]
    assert all(i.published_ms for i in items)
    assert items[0].guid == "https://example.org/rdf/first"  # rdf:about


def test_rss091_without_dates() -> None:
    items = parse("rss091.xml").items
    assert [i.published_ms for i in items] == [None, None]
    assert items[0].title == "旧版订阅源第一条"


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("gbk.xml", "王堃与陈喆获评年度优秀志愿者"),
        ("big5.xml", "臺灣經濟成長率優於預期"),
        ("gbk_undeclared.xml", "老城区改造项目进入第二阶段"),
    ],
)
def test_legacy_chinese_encodings_decode(name: str, title: str) -> None:
    feed = parse(name)
    assert feed.items[0].title == title


def test_undeclared_encoding_is_detected_and_reported() -> None:
    feed = parse("gbk_undeclared.xml")
    assert feed.warnings and "no encoding declared" in feed.warnings[0]
    text, encoding = decode_feed((FEEDS / "gbk_undeclared.xml").read_bytes())
    assert encoding == "gb18030" and "老城区" in text


def test_http_charset_and_mislabelled_declarations() -> None:
    gbk = '<?xml version="1.0"?><rss><channel><item><title>中文标题</title></item></channel></rss>'.encode("gbk")
    assert parse_feed(gbk, http_charset="GBK").items[0].title == "中文标题"
    labelled_gb2312 = '<?xml version="1.0" encoding="gb2312"?><rss><channel><item><title>王堃</title></item></channel></rss>'.encode("gbk")
    assert parse_feed(labelled_gb2312).items[0].title == "王堃"  # 堃 is GBK, not GB2312
    latin_label = '<?xml version="1.0" encoding="iso-8859-1"?><rss><channel><item><title>中文</title></item></channel></rss>'.encode()
    assert decode_feed(latin_label)[1] == "utf-8"
    bom = "\ufeff<rss><channel><item><title>带BOM</title></item></channel></rss>".encode()
    assert parse_feed(bom).items[0].title == "带BOM"


def test_malformed_feed_recovers_with_a_warning() -> None:
    feed = parse("malformed.xml")
    assert feed.parser == "feedparser" and len(feed.items) == 3
    assert feed.items[0].title == "A & B 两家公司宣布合作"
    assert "feed has errors" in feed.warnings[0] and "malformed.xml" in feed.warnings[0]


@pytest.mark.parametrize("data", [b"", b"   ", (FEEDS / "not_a_feed.html").read_bytes(), b"\x00\x01binary", b"<rss><channel><item>"])
def test_what_is_not_a_feed_is_a_feed_error(data: bytes) -> None:
    try:
        feed = parse_feed(data, url="http://feeds.example.org/x")
    except FeedError as error:
        assert "http://feeds.example.org/x" in str(error)
    else:
        assert feed.items == () or feed.warnings  # a truncated feed may still be recognised, never silently


def test_external_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><rss><channel><item><title>&x;</title></item></channel></rss>'
    try:
        feed = parse_feed(xxe.encode())
    except FeedError:
        return
    assert all("TOP-SECRET" not in item.title for item in feed.items)


def test_billion_laughs_does_not_expand() -> None:
    lol = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    lol += "]><rss><channel><item><title>&i;</title></item></channel></rss>"
    try:
        feed = parse_feed(lol.encode())
    except FeedError:
        return
    assert all(len(item.title) < 10_000 for item in feed.items)


def with_stray_ampersand(data: bytes, http_charset: str | None = None) -> bytes:
    """The feed as UTF-8 with a bare ``&`` after its root's start tag: no longer XML, so only feedparser's forgiving
    parser reads it, as a feed with one stray character goes to the careful path."""
    text = _as_utf8(decode_feed(data, http_charset)[0])
    root = re.search(rb"<[A-Za-z][^>]*>", text[40:])
    assert root is not None
    return text[: 40 + root.end()] + b" & " + text[40 + root.end() :]


def reading(items: tuple[FeedItem, ...]) -> list[tuple[object, ...]]:
    """What an archive keeps of each item: title, link, guid, date, the body as text, and the version's fingerprint."""
    articles = [normalise_item(item, source="s", seen_ms=0) for item in items]
    return [(a.title, a.link, a.guid, a.pub_ms, _text_of_html(a.body), a.fingerprint) for a in articles]


FIXTURES = sorted(p.name for p in FEEDS.glob("*.xml") if p.name != "malformed.xml")


@pytest.mark.parametrize("name", FIXTURES)
def test_both_paths_read_every_fixture_alike(name: str) -> None:
    data = (FEEDS / name).read_bytes()
    fast = parse_feed(data, url=name)
    assert fast.parser == "lxml" and fast.items
    careful = _parse_feedparser(_as_utf8(decode_feed(data)[0]), name)  # feedparser's strict parser
    loose = parse_feed(with_stray_ampersand(data), url=name)  # feedparser's forgiving one
    assert loose.parser == "feedparser" and "feed has errors" in loose.warnings[0]
    assert reading(careful.items) == reading(fast.items)
    assert reading(loose.items) == reading(fast.items)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("Fri, 03 Sep 2021 16:45:03 GMT", 1630687503000),
        ("Fri, 03 Sep 2021 16:45:03 +0800", 1630658703000),
        ("2021-09-03T16:45:03Z", 1630687503000),
        ("2021-09-03T16:45:03+08:00", 1630658703000),
        ("2021-09-03 16:45:03", 1630687503000),
        ("03 Sep 2021 16:45:03 GMT", 1630687503000),
        ("not a date", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(text: str | None, ms: int | None) -> None:
    assert parse_date(text) == ms


def test_utf8_bytes_under_a_latin1_label_are_read_as_utf8() -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><rss><channel><item><title>中文标题</title></item></channel></rss>'.encode()
    assert parse_feed(data).items[0].title == "中文标题"


def test_namespaced_lookalikes_are_not_taken_for_rss_elements() -> None:
    data = (
        '<rss xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"><channel><item>'
        '<atom:link rel="standout" href="https://other.example.org/"/><media:description>caption</media:description>'
        "<title>标题</title><link>https://news.example.org/1</link><description>正文</description></item></channel></rss>"
    ).encode()
    item = parse_feed(data).items[0]
    assert (item.link, item.body) == ("https://news.example.org/1", "正文")


@pytest.mark.parametrize("value", ["0000-00-00", "1900-01-01T00:00:00Z", "Mon, 01 Jan 1900 00:00:00 GMT", "soon"])
def test_impossible_or_pre_1970_dates_count_as_undated(value: str) -> None:
    assert parse_date(value) is None


def both_paths(name: str) -> list[tuple[FeedItem, ...]]:
    """A fixture's items read by the fast path and by feedparser."""
    data, url = (FEEDS / name).read_bytes(), "https://feeds.example.org/" + name
    return [parse_feed(data, url=url).items, parse_feed(with_stray_ampersand(data), url=url).items]


@pytest.mark.parametrize("items", both_paths("atom_text_constructs.xml"))
def test_atom_text_constructs(items: tuple[FeedItem, ...]) -> None:
    escaped, text, mime, xhtml_mime, plain = items
    # Text escaped inside XHTML stays text: no word vanishes into a tag, no live script.
    assert "&lt;blink&gt;" in escaped.body and "&lt;script&gt;" in escaped.body and "<script" not in escaped.body
    assert escaped.body.endswith("&lt;i&gt;") and '<p class="note" id="n1">第二段<br/>换行</p>' in escaped.body
    assert [i.title for i in items] == ["& 符号与 标签", "HTML 标题 粗体 & 更多", "MIME 拼写 <b> 是文字", "XHTML MIME 标题", "纯文本摘要"]
    assert text.body == "Example &lt;b&gt;Atom&lt;/b&gt; 纯文本 1 &lt; 2 &amp; 3 &gt; 2"
    assert mime.body == "<p>以 text/html 写的<em>正文</em>。</p>"
    assert xhtml_mime.body == '<p>只有摘要，<a href="https://example.org/x">链接</a>，&lt;b&gt;转义&lt;/b&gt;。</p>'
    assert plain.body == "数字 1 &lt; 2，标签 &lt;p&gt; 不是标签。"


@pytest.mark.parametrize("items", both_paths("atom_ids.xml"))
def test_atom_ids_are_kept_as_written(items: tuple[FeedItem, ...]) -> None:
    assert [i.guid for i in items] == ["/news/2026/05/relative-id", "12345"]
    article = normalise_item(items[0], source="s", seen_ms=0, base_url="https://feeds.example.org/atom.xml")
    assert "guid:s:/news/2026/05/relative-id" in article.keys


C1 = re.compile("[\x80-\x9f]")


@pytest.mark.parametrize("declared", [True, False])
def test_iso_8859_1_is_read_as_windows_1252(declared: bool) -> None:
    data = (FEEDS / "latin1.xml").read_bytes()
    charset = None
    if not declared:  # the label comes from the HTTP header instead
        data, charset = data.replace(b' encoding="ISO-8859-1"', b""), "iso-8859-1"
    for items in (parse_feed(data, http_charset=charset).items, parse_feed(with_stray_ampersand(data, charset)).items):
        assert [i.title for i in items] == ["“Café” – it’s open…", "Second ‘quoted’"]
        assert items[0].body == "<p>Price: €10 – … gone</p>"
        assert items[1].body == "Naïve résumé — fine"
        assert not any(C1.search(i.title + i.body) for i in items)


def test_no_c1_control_is_kept_from_any_encoding() -> None:
    data = "<rss><channel><item><title>a\x96b&#x85;c</title><description>&#150;&#129;x</description></item></channel></rss>".encode()
    item = parse_feed(data).items[0]
    assert (item.title, item.body) == ("a–b…c", "–x")


@pytest.mark.parametrize("name", ["rss2_userland.xml", "rss090.xml"])
def test_rss_in_its_own_namespace(name: str) -> None:
    for items in both_paths(name):
        assert len(items) == 2 and all(i.title and i.link and i.body for i in items)
    userland = parse("rss2_userland.xml").items
    assert userland[0].guid == "userland-first" and userland[0].body == "<p>全文一：默认命名空间不妨碍读取。</p>"
    assert userland[1].published_ms == 1778117400000  # dc:date under a default namespace
    first = parse("rss090.xml").items[0]
    assert (first.title, first.link, first.body) == ("零点九零版的第一条", "https://example.org/rss090/first", "RSS 0.90 条目也有摘要。")


@pytest.mark.parametrize("items", both_paths("vocabulary.xml"))
def test_vocabulary_real_feeds_use(items: tuple[FeedItem, ...]) -> None:
    day = 86_400_000
    may_1 = 1777593600000
    assert [i.published_ms for i in items] == [may_1 + n * day + 8 * 3_600_000 for n in range(8)]
    assert items[0].body == "<p>正文来自 xhtml:body，&lt;b&gt;转义的&lt;/b&gt;是文字，<b>元素</b>是标记。</p>"
    assert items[1].body == "<p>正文来自 body 元素 &amp; 它的段落。</p>"
    assert items[2].body == "<p>没有命名空间的 body。</p>"
    assert (items[3].title, items[3].body) == ("标题来自 dc:title", "<p>正文来自 dc:description。</p>")
    assert items[4].body == "只有 itunes:summary 的节目说明 1 &lt; 2。"
    assert items[5].body == "<p>description 优先。</p>"
    assert (items[6].title, items[6].body) == ("标题只来自 media:title", "正文只来自 media:description。")
    assert items[7].title == "标题优先于 media:title"


@pytest.mark.parametrize(
    ("name", "encoding"),
    [
        ("utf16le.xml", "utf-16-le"),
        ("utf16be_undeclared.xml", "utf-16-be"),
        ("utf32le.xml", "utf-32-le"),
        ("utf32be_undeclared.xml", "utf-32-be"),
    ],
)
def test_utf16_and_utf32_without_a_byte_order_mark(name: str, encoding: str) -> None:
    data = (FEEDS / name).read_bytes()
    assert decode_feed(data)[1] == encoding
    feed = parse_feed(data)
    assert feed.items[0].title == f"{encoding.upper()}：没有字节序标记" and not feed.warnings
    assert "\x00" not in feed.items[0].body


def test_a_utf16_label_on_bytes_without_nuls_is_ignored() -> None:
    data = '<?xml version="1.0" encoding="UTF-16"?><rss><channel><item><title>标签说谎</title></item></channel></rss>'.encode()
    assert decode_feed(data)[1] == "utf-8"
    assert parse_feed(data).items[0].title == "标签说谎"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"<rss><channel><title>x</title></channel></rss>", "<rss> in no namespace"),
        (b'<rss xmlns="http://backend.userland.com/rss2"><channel/></rss>', "<rss> in namespace http://backend.userland.com/rss2"),
        (
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><channel/></rdf:RDF>',
            "<RDF> in namespace http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        ),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>', "<feed> in namespace http://www.w3.org/2005/Atom"),
    ],
)
def test_zero_items_says_why(data: bytes, says: str) -> None:
    feed = parse_feed(data, url="http://feeds.example.org/x")
    assert feed.items == ()
    assert any("no items" in w and says in w and "http://feeds.example.org/x" in w for w in feed.warnings)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url/></urlset>',
            "<urlset> in namespace http://www.sitemaps.org/schemas/sitemap/0.9",
        ),
        (b'<s:rss xmlns:s="urn:x"><channel><title>&</title></channel></s:rss>', "<rss> in namespace urn:x"),  # feedparser's
    ],
)
def test_a_body_read_as_no_feed_names_its_root(data: bytes, says: str) -> None:
    with pytest.raises(FeedError, match=re.escape(says)):
        parse_feed(data, url="x")


def test_html_entities_keep_a_feed_on_lxml() -> None:
    data = b"<rss><channel><title>a&nbsp;b</title><item><title>A&mdash;B</title><description>x&hellip;</description></item></channel></rss>"
    feed = parse_feed(data)
    assert feed.parser == "lxml" and (feed.items[0].title, feed.items[0].body) == ("A\u2014B", "x\u2026")
