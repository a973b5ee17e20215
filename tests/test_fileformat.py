"""The duty-machine formats, byte for byte: golden files, the real corpus, lists, README."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime

import pytest

from newsarchive.errors import ArticleFileError
from newsarchive.models import FeedItem
from newsarchive.normalise import normalise_item, serialise_link
from newsarchive.store.fileformat import ListEntry, join_body, month_day, parse_article, render_article, render_list, render_readme

from .conftest import shared


def test_golden_files_render_byte_for_byte() -> None:
    golden = shared("golden")
    cases = json.loads((golden / "cases.json").read_text(encoding="utf-8"))
    assert cases
    for case in cases:
        expected = (golden / case["file"]).read_bytes()
        body = parse_article(expected.decode()).body  # the feed's HTML as the file keeps it
        assert len(body.encode()) == case["content_bytes"]
        published = int(parsedate_to_datetime(case["pub_date_rfc822"]).timestamp() * 1000)
        assert published == case["pub_ms"]
        item = FeedItem(title=case["title"], link=case["link_as_published"], guid=None, published_ms=published, body=body)
        article = normalise_item(item, source=case["source_slug"], seen_ms=0)
        assert article.link == case["link_in_file"]
        rendered = render_article(pub_ms=article.pub_ms, title=article.title, link=article.link, body=article.body)
        assert rendered.encode() == expected, case["file"]


def test_every_corpus_file_parses_and_renders_back_byte_for_byte() -> None:
    articles = shared("corpus", "duty-machine-news", "articles")
    files = sorted(articles.rglob("*.md"))
    assert len(files) >= 40
    for path in files:
        data = path.read_bytes()
        parsed = parse_article(data.decode(), path)
        rendered = render_article(pub_ms=parsed.pub_ms, title=parsed.title, link=serialise_link(parsed.link), body=join_body(parsed.body))
        assert rendered.encode() == data, path


def test_corpus_manifest_agrees_with_parsed_dates_and_titles() -> None:
    root = shared("corpus", "duty-machine-news")
    rows = (root / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    checked = 0
    for row in rows:
        path, _commit, _size, _outlet, pub_ms, title, _notes = row.split("\t")
        if not path.startswith("articles/"):
            continue
        parsed = parse_article((root / path).read_text(encoding="utf-8"))
        assert parsed.pub_ms == int(pub_ms), path
        assert parsed.title.strip() == title.strip(), path
        checked += 1
    assert checked >= 40


def test_body_is_joined_from_stripped_lines_like_javascript() -> None:
    html = "<div>\n\t<p>一 </p>  \n\u3000<p>二</p>\xa0\r\n<p>three</p>\ufeff\n"
    assert join_body(html) == "<div><p>一 </p><p>二</p><p>three</p>"


def test_article_without_date_or_link_still_has_three_header_lines() -> None:
    text = render_article(pub_ms=None, title="标题", link=None, body="<p>x</p>")
    assert text == "<!--NaN-->\n[标题]()\n------\n\n<p>x</p>\n"
    assert parse_article(text).pub_ms is None
    assert parse_article(text).link is None


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", 1, "ends before the body"),
        ("<!--abc-->\n[t](https://example.org/)\n------\n\nbody\n", 1, "<!--milliseconds-->"),
        ("<!--1-->\nt https://example.org/\n------\n\nbody\n", 2, "[title](link)"),
        ("<!--1-->\n[t](https://example.org/)\n=====\n\nbody\n", 3, "------"),
        ("<!--1-->\n[t](https://example.org/)\n------\nx\nbody\n", 4, "empty line"),
        ("\ufeff<!--1-->\n[t](https://example.org/)\n------\n\nbody\n", 1, "byte-order mark"),
    ],
)
def test_malformed_article_file_names_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(ArticleFileError) as caught:
        parse_article(text, "articles/x/1.md")
    assert caught.value.line == line
    assert reason in str(caught.value)
    assert "articles/x/1.md" in str(caught.value)


def test_list_matches_duty_machine_layout() -> None:
    entries = [
        ListEntry(path="dw/1024206.md", title="CK母公司遭调查", pub_ms=1727222400000),  # 2024-09-25 00:00 UTC
        ListEntry(path="dw/1024207.md", title=" 民调 ", pub_ms=1727193600000),  # 2024-09-24 16:00 UTC = 9-25 00:00 UTC+8
        ListEntry(path="BBC/1047717_营收 暴增.md", title="营收 暴增", pub_ms=1598918400000),
    ]
    assert render_list("德国之声", entries) == (
        "德国之声\n------\n\n"
        "9-25 [CK母公司遭调查](/articles/dw/1024206.md)\n\n"
        "9-25 [民调](/articles/dw/1024207.md)\n\n"
        "9-1 [营收 暴增](/articles/BBC/1047717_营收%20暴增.md)\n\n"
    )


def test_corpus_later_era_list_is_reproduced_from_its_entries() -> None:
    root = shared("corpus", "duty-machine-news")
    expected = (root / "lists" / "德国之声.md").read_text(encoding="utf-8")
    lines = expected.split("\n")[3::2]
    entries = []
    for line in lines:
        if not line:
            continue
        date, _, rest = line.partition(" [")
        title, _, link = rest.rpartition("](/articles/")
        month, day = (int(x) for x in date.split("-"))
        entries.append((title, link[:-1], month, day))
    assert len(entries) == 300
    # Render with times that fall on the listed Beijing dates (noon, Beijing time, 2024).
    from datetime import datetime, timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    rendered = render_list(
        "德国之声",
        [
            ListEntry(path=link, title=title, pub_ms=int(datetime(2024, m, d, 12, tzinfo=beijing).timestamp() * 1000))
            for title, link, m, d in entries
        ],
    )
    assert rendered == expected


def test_month_day_is_beijing_time() -> None:
    assert month_day(1630687503000) == "9-4"  # 2021-09-03 16:45 UTC is 9-4 00:45 in Beijing
    assert month_day(1630600000000) == "9-3"


def test_readme_links_each_list() -> None:
    assert (
        render_readme("抓取新闻媒体文章", ["法广", "BBC"]) == "抓取新闻媒体文章\n------\n\n[法广](lists/法广.md)\n\n[BBC](lists/BBC.md)\n\n"
    )
