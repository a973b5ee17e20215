"""Stage 4: links, titles, identity keys and fingerprints (pure functions)."""

from __future__ import annotations

import pytest

from newsarchive.models import FeedItem
from newsarchive.normalise import fingerprint, link_key, normalise_item, serialise_link
from newsarchive.store.fileformat import fold_title, js_strip, parse_article, render_article


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.rfi.fr/cn/国际/20210903-北京", "https://www.rfi.fr/cn/%E5%9B%BD%E9%99%85/20210903-%E5%8C%97%E4%BA%AC"),
        ("HTTP://WWW.Example.ORG", "http://www.example.org/"),
        ("http://www.rfi.fr//cn/x", "http://www.rfi.fr//cn/x"),
        ("https://example.org/a%e4%b8%80", "https://example.org/a%e4%b8%80"),  # lower-case escapes kept, as browsers do
        ("  https://example.org/a b)c  ", "https://example.org/a%20b%29c"),
        ("https://example.org/q?a=中 文", "https://example.org/q?a=%E4%B8%AD%20%E6%96%87"),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("file:///etc/passwd", None),
        ("", None),
        (None, None),
    ],
)
def test_serialise_link(raw: str | None, expected: str | None) -> None:
    assert serialise_link(raw) == expected


def test_relative_link_resolves_against_the_feed() -> None:
    assert serialise_link("/zhongwen/simp/1", "https://feeds.example.org/zhongwen/rss.xml") == "https://feeds.example.org/zhongwen/simp/1"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://cn.nytimes.com/china/20260101/x/?utm_source=RSS", "https://cn.nytimes.com/china/20260101/x/"),
        ("http://www.rfi.fr//cn/x", "https://rfi.fr/cn/x"),
        ("https://example.org/a%E4%B8%80", "https://example.org/a一"),
        ("https://example.org/a?b=2&a=1#top", "https://example.org/a?a=1&b=2"),
        ("https://cn.ft.com/story/001?full=y", "https://cn.ft.com/story/001"),
        ("https://example.org:443/x/", "https://example.org/x"),
    ],
)
def test_link_key_ignores_spelling(a: str, b: str) -> None:
    assert link_key(a) == link_key(b)


def test_link_key_keeps_what_identifies() -> None:
    assert link_key("https://example.org/a?id=1") != link_key("https://example.org/a?id=2")
    assert link_key("https://example.org/a") != link_key("https://example.org/b")


def test_fingerprint_ignores_white_space_and_entities_only() -> None:
    base = fingerprint("标题", "<p>正文 一</p>")
    assert fingerprint(" 标题 ", "<p>正文\n一</p> ") == base
    assert fingerprint("标题", "<p>正文&#x20;一</p>") == base
    assert fingerprint("标题", "<p>正文二</p>") != base
    assert fingerprint("标题改", "<p>正文 一</p>") != base


def test_js_strip_matches_javascript_white_space() -> None:
    assert js_strip("\ufeff\u3000 x \xa0\u2028") == "x"
    assert js_strip("\x1cx\x85") == "\x1cx\x85"  # Python's isspace() says yes, JavaScript's \s says no


def test_hostile_title_cannot_break_the_header() -> None:
    item = FeedItem(title="第一行\n第二行\t[x](javascript:alert(1))", link="https://example.org/a b)c", guid=None, published_ms=1, body="b")
    article = normalise_item(item, source="t", seen_ms=5)
    text = render_article(pub_ms=article.pub_ms, title=article.title, link=article.link, body=article.body)
    lines = text.split("\n")
    assert lines[1] == "[第一行 第二行 [x]\\(javascript:alert(1))](https://example.org/a%20b%29c)"
    assert lines[2] == "------"
    parsed = parse_article(text)
    assert parsed.title == "第一行 第二行 [x](javascript:alert(1))"
    assert parsed.link == "https://example.org/a%20b%29c"


def test_title_keeps_inner_spaces_of_real_titles() -> None:
    assert fold_title(" 陈漫迪奥宣传照   是辱华还是触碰禁忌？ ") == "陈漫迪奥宣传照   是辱华还是触碰禁忌？"
    assert fold_title("台积电受重视\u3000日本首相视察新厂") == "台积电受重视\u3000日本首相视察新厂"


def test_undated_item_takes_first_seen_time_and_guid_link() -> None:
    item = FeedItem(title="t", link=None, guid="https://example.org/p/1", published_ms=None, body="")
    article = normalise_item(item, source="s", seen_ms=1_700_000_000_000)
    assert article.pub_ms == 1_700_000_000_000
    assert article.link == "https://example.org/p/1"
    assert article.keys == ("link:s:example.org/p/1", "guid:s:https://example.org/p/1")
