"""Versions and their differences: the diff by sentence then by character (Chinese) or word (Latin), `history`
through the command line, and the diff pages of the reader and the static site."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import pytest
from lxml import html

from newsarchive.archive import Archive
from newsarchive.diff import GAP, Segment, diff_texts, diff_versions, segments_html, segments_text
from newsarchive.web.pages import diff_pages

from .conftest import FeedServer, item, rss, serving, sources_file
from .reading import make_reading_archive
from .test_cli import explain, run

LONG = "国务院总理周二在北京会见了来访的德国总理，双方就中德经贸合作、气候变化和乌克兰局势等议题深入交换了意见。"


def changes(segments: tuple[Segment, ...]) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in segments if s.kind in ("insert", "delete")]


def shown(old: str, new: str) -> list[str]:
    """Each paragraph of the diff as text with {+insertions+} and [-deletions-]."""
    return [segments_text(paragraph, markers=True).plain for paragraph in diff_texts(old, new)]


# the diff ------------------------------------------------------------------------------------------


def test_one_changed_character_in_a_long_sentence_is_just_that_character() -> None:
    (paragraph,) = diff_texts(LONG, LONG.replace("周二", "周三"))
    assert changes(paragraph) == [("delete", "二"), ("insert", "三")]
    assert "".join(s.text for s in paragraph if s.kind != "delete") == LONG.replace("周二", "周三")


def test_an_inserted_sentence_is_shown_whole_with_one_sentence_of_context() -> None:
    old = "第一句话。第二句话。第三句话。第四句话。第五句话。"
    new = "第一句话。第二句话。第三句话。这是新加的一句！第四句话。第五句话。"
    assert shown(old, new) == ["…第三句话。{+这是新加的一句！+}第四句话。…"]


def test_unchanged_paragraphs_collapse_to_a_gap() -> None:
    old = "\n".join(f"第{n}段第一句。第{n}段第二句。第{n}段第三句。" for n in range(1, 8))
    new = old.replace("第4段第二句", "第4段的第二句")
    assert shown(old, new) == [GAP, "第4段第一句。第4段{+的+}第二句。第4段第三句。", GAP]
    new = old + "\n新的最后一段。"
    assert shown(old, new) == [GAP, "…第7段第三句。", "{+新的最后一段。+}"]


def test_a_removed_paragraph_is_removed_whole_even_when_its_sentences_recur() -> None:
    paragraphs = [f"第{n}段。这是一段没有改动的文字。" for n in range(1, 6)]
    old, new = "\n".join(paragraphs), "\n".join(paragraphs[:3] + paragraphs[4:])
    assert shown(old, new) == [GAP, "…这是一段没有改动的文字。", "[-第4段。这是一段没有改动的文字。-]", "第5段。…"]


def test_english_is_compared_by_word() -> None:
    old = "Officials in Beijing said the talks were constructive. Nothing else changed here. Nor here."
    new = "Officials in Shanghai said the talks were productive. Nothing else changed here. Nor here."
    expected = "Officials in [-Beijing-] {+Shanghai+} said the talks were [-constructive-]{+productive+}. Nothing else changed here. …"
    assert shown(old, new) == [expected]


def test_white_space_and_unicode_forms_are_no_difference() -> None:
    old = "第一段，有　全角空格。\nCafé au lait.  Two  spaces."
    new = "第一段，有全角空格。 \n\nCafe\u0301 au lait. Two spaces."
    assert diff_texts(old, new) == ()
    diff = diff_versions("标题 A", old, "标题A", new)
    assert not diff.changed and diff.paragraphs == ()


def test_traditional_and_simplified_is_a_real_change() -> None:
    diff = diff_versions("台湾选举结果", "台湾的选举。", "台灣選舉結果", "台灣的選舉。")
    assert diff.changed and diff.title_changed
    assert changes(diff.title) == [("delete", "湾选举结"), ("insert", "灣選舉結")]
    assert shown("台湾的选举。", "台灣的選舉。") == ["台[-湾-]{+灣+}的[-选举-]{+選舉+}。"]


def test_a_rewritten_sentence_is_not_cut_into_shreds() -> None:
    old = "美国总统周一宣布对中国电动汽车加征关税。"
    new = "欧盟委员会今天发布报告称经济前景不容乐观。"
    assert shown(old, new) == [f"[-{old}-]", f"{{+{new}+}}"]


def test_renderers_escape_and_mark() -> None:
    (paragraph,) = diff_texts("他说：<b>好</b> & 走。", "他说：<i>好</i> & 走。")
    rendered = segments_html(paragraph)
    assert "&lt;<del>b</del><ins>i</ins>&gt;" in rendered and "&amp;" in rendered and "<b>" not in rendered
    styled = segments_text(paragraph, markers=False)
    assert styled.plain == "他说：<bi>好</bi> & 走。" and {str(span.style) for span in styled.spans} == {"red strike", "bold green"}


# history on the command line -------------------------------------------------------------------------


def test_history_on_the_command_line(server: FeedServer, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    assert run("init", archive).returncode == 0
    first = rss(item(1, title="李强会见德国总理", body=f"<p>{LONG}</p><p>会谈持续了两个小时。</p>"), item(2))
    sources = sources_file(tmp_path, {"rfi": [server.add("/rfi.xml", first)]}, names={"rfi": "法广"})
    result = run("update", "--archive", archive, "--sources", sources)
    assert result.returncode == 0, explain(result)
    edited = f"<p>{LONG.replace('周二', '周三')}</p><p>会谈持续了两个小时。</p><p>双方签署了三项协议。</p>"
    server.add("/rfi.xml", rss(item(1, title="李强会见德國总理", body=edited), item(2)))
    result = run("update", "--archive", archive, "--sources", sources)
    assert result.returncode == 0, explain(result)

    result = run("history", "https://www.news.example.org/zh/1/?utm_source=feed", "--archive", archive)  # normalised as the index keys it
    assert result.returncode == 0, explain(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("李强会见德國总理") and "articles/rfi/1048574.md" in lines[0]
    assert re.match(r"1\. \d{4}-\d\d-\d\d \d\d:\d\d  李强会见德国总理  \(62 characters\)  revisions/rfi/1048574/\d+\.md$", lines[2]), lines
    assert "周[-二-]{+三+}在北京" in result.stdout and "title: 李强会见德[-国-]{+國+}总理" in result.stdout
    assert "{+双方签署了三项协议。+}" in result.stdout
    for reference in ("rfi/1048574", "articles/rfi/1048574.md", str(archive / "articles/rfi/1048574.md")):
        again = run("history", reference, "--archive", archive)
        assert again.returncode == 0 and again.stdout == result.stdout, explain(again)

    result = run("history", "1048574", "--source", "rfi", "--archive", archive, "--json")
    assert result.returncode == 0, explain(result)
    data = json.loads(result.stdout)
    assert data["article"]["path"] == "articles/rfi/1048574.md" and [v["latest"] for v in data["versions"]] == [False, True]
    (change,) = data["changes"]
    assert change["from"] == data["versions"][0]["id"] and change["to"] == data["versions"][1]["id"]
    inserted = [s["text"] for paragraph in change["paragraphs"] for s in paragraph if s["op"] == "insert"]
    assert inserted == ["三", "双方签署了三项协议。"]

    for unknown in ("https://news.example.org/zh/404", "rfi/5", "articles/rfi/5.md"):
        result = run("history", unknown, "--archive", archive)
        assert result.returncode == 2 and "no article" in result.stderr and unknown in result.stderr, explain(result)
        assert "Traceback" not in result.stderr


# the reader and the static site ----------------------------------------------------------------------


@pytest.fixture
def reader(server: FeedServer, tmp_path: Path) -> Iterator[tuple[str, Archive]]:
    archive = make_reading_archive(server, tmp_path / "archive")
    with serving(archive) as base:
        yield base, archive
    archive.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def test_the_reader_shows_the_changes_between_any_two_versions(reader: tuple[str, Archive]) -> None:
    base, archive = reader
    row = next(r for r in archive.articles("a") if r.title == "王毅訪問中亞")
    _, article = get(base + row.path.replace(".md", ".html"))
    link = html.fromstring(article).xpath('//a[@class="changes"]/@href')[0]
    assert link.startswith("1048574/diff-") and html.fromstring(article).xpath('//form[@class="compare"]/@action') == ["1048574/diff.html"]
    status, page = get(base + "articles/a/" + link)
    assert status == 200 and "<ins>更新：补充了细节。</ins>" in page and "「一帶一路」倡議十週年。" in page
    assert "<del>" not in page.split("legend", 1)[1].split("</p>", 1)[1]
    (older, newer) = [version.id for version in archive.history(row.path).versions]
    query = urllib.parse.urlencode({"from": newer, "to": older})  # backwards: what the later version lost
    status, page = get(base + "articles/a/1048574/diff.html?" + query)
    assert status == 200 and "<del>更新：补充了细节。</del>" in page and "<ins>" not in page.split("legend", 1)[1].split("</p>", 1)[1]
    status, page = get(base + "articles/a/1048574/diff.html?" + urllib.parse.urlencode({"from": newer, "to": newer}))
    assert status == 200 and "No difference" in page
    for wrong in ("diff.html?from=1&to=2", "diff-1-2.html", "diff.html", "../../../newsarchive.toml/diff.html"):
        assert get(base + "articles/a/1048574/" + wrong)[0] == 404, wrong


def test_the_static_site_has_the_diff_pages_and_their_links_resolve(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    archive.build_site(out)
    row = next(r for r in archive.articles("a") if r.title == "王毅訪問中亞")
    (page,) = diff_pages(row, archive.index.revisions(row.rowid))
    tree = html.fromstring((out / page).read_bytes())
    assert tree.xpath("//ins/text()") == ["新增 Inserted", "更新：补充了细节。"] and not tree.xpath("//form[@class='compare']")
    for link in tree.xpath("//a/@href | //link/@href"):
        assert not link.startswith(("/", "http")) and (out / page).parent.joinpath(link).resolve().is_file(), link
    article = html.fromstring((out / row.path.replace(".md", ".html")).read_bytes())
    assert article.xpath('//a[@class="changes"]/@href') == [page.removeprefix("articles/a/")]
    assert archive.build_site(out).written == 0  # the diff pages take part in the incremental rebuild
