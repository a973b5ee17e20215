"""Stage 3 on bytes: every feed dialect and encoding, the fast path agreeing with feedparser."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsarchive.errors import FeedError
from newsarchive.parse import _as_utf8, _parse_feedparser, decode_feed, parse_date, parse_feed
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


@pytest.mark.parametrize("name", sorted(p.name for p in FEEDS.glob("*.xml") if p.name != "malformed.xml"))
def test_fast_path_agrees_with_feedparser(name: str) -> None:
    data = (FEEDS / name).read_bytes()
    fast = parse_feed(data, url=name)
    assert fast.parser == "lxml"
    careful = _parse_feedparser(_as_utf8(decode_feed(data)[0]), name)
    assert len(fast.items) == len(careful.items)
    for a, b in zip(fast.items, careful.items, strict=True):
        assert (a.title, a.link, a.guid, a.published_ms) == (b.title, b.link, b.guid, b.published_ms)
        assert join_body(a.body) == join_body(b.body)


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
