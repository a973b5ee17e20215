"""`newsarchive save`: pages archived on request over a loopback server, through the real command line."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from newsarchive.store.fileformat import parse_article

from .conftest import FeedServer, rss
from .test_cli import explain, run
from .test_media import png

DEEP = "第三段落里藏着一个只有这里才有的词语：蓝鲸计划"


def page(title: str, paragraphs: int = 6, image: str | None = None, published: str | None = "2026-12-01T10:00:00+08:00") -> str:
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    body = "".join(f"<p>{title}的第{n}段：{'这是一段足够长的正文，用来让提取器认出主要内容。' * 4}</p>" for n in range(paragraphs))
    body = body.replace("的第3段：", f"的第3段：{DEEP}。")
    figure = f'<figure><img src="{image}" alt="图"></figure>' if image else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title} - 本地台</title>"
        f'<meta property="og:title" content="{title}">{meta}</head>'
        f"<body><nav>首页 新闻 关于</nav><article><h1>{title}</h1>{figure}{body}</article><footer>版权所有</footer></body></html>"
    )


@pytest.fixture
def archive(tmp_path: Path, server: FeedServer) -> Path:
    root = tmp_path / "archive"
    assert run("init", root).returncode == 0
    feed = server.add("/feed.xml", rss())
    (root / "newsarchive.toml").write_text(
        f'[recheck]\nper_run = 0\n\n[[sources]]\nname = "本地台"\nslug = "local"\nfeeds = ["{feed}"]\nallow_private = true\n',
        encoding="utf-8",
    )
    return root


def html(server: FeedServer, path: str, text: str, **options: object) -> str:
    return server.add(path, text, headers={"Content-Type": "text/html; charset=utf-8"}, **options)


def test_save_stores_the_page_once(server: FeedServer, archive: Path) -> None:
    url = html(server, "/news/1.html", page("蓝鲸新闻", image=server.base + "/img/1.png"))
    server.add("/img/1.png", png(40, 30), headers={"Content-Type": "image/png"})
    result = run("save", url, "--archive", archive, "--json")
    assert result.returncode == 0, explain(result)
    [saved] = json.loads(result.stdout)["pages"]
    assert saved["outcome"] == "saved" and saved["path"].startswith("articles/local/"), saved
    stored = parse_article((archive / saved["path"]).read_text(encoding="utf-8"), archive / saved["path"])
    assert stored.title == "蓝鲸新闻"
    assert stored.link == url
    assert DEEP in stored.body
    assert "首页 新闻 关于" not in stored.body and "版权所有" not in stored.body, "the main text only"
    assert stored.pub_ms == 1796090400000  # 2026-12-01 10:00 +08:00, from the page's meta
    assert "蓝鲸新闻" in (archive / "lists" / "本地台.md").read_text(encoding="utf-8")
    found = run("search", "蓝鲸计划", "--archive", archive, "--json")
    assert [hit["path"] for hit in json.loads(found.stdout)["hits"]] == [saved["path"]]
    warc = b"".join(gzip.decompress(path.read_bytes()) for path in (archive / "warc").glob("*.warc.gz"))
    assert url.encode() in warc and b"WARC-Type: response" in warc, "the page's response is captured"
    assert list((archive / "media").rglob("*.png")), "its image is kept"

    again = run("save", url + "?utm_source=x", url, "--archive", archive)
    assert again.returncode == 0, explain(again)
    assert again.stderr.count(f"already there: {saved['path']}") == 2, explain(again)
    assert len(list((archive / "articles" / "local").iterdir())) == 1


def test_save_reads_addresses_from_standard_input(server: FeedServer, archive: Path) -> None:
    urls = [html(server, f"/news/{n}.html", page(f"第{n}号新闻")) for n in range(3)]
    result = subprocess.run(
        [sys.executable, "-m", "newsarchive", "save", "--archive", str(archive), "--json"],
        input="\n".join(urls) + "\n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, explain(result)  # type: ignore[arg-type]
    outcomes = [(p["url"], p["outcome"]) for p in json.loads(result.stdout)["pages"]]
    assert outcomes == [(url, "saved") for url in urls]


def test_a_page_the_feeds_brought_is_already_there(server: FeedServer, archive: Path) -> None:
    url = html(server, "/news/7.html", page("从订阅来的新闻"))
    server.routes["/feed.xml"].body = rss(
        {"title": "从订阅来的新闻", "link": url, "guid": url, "pubDate": "Tue, 01 Dec 2026 02:00:00 GMT", "description": "摘要"}
    )
    assert run("update", "--archive", archive).returncode == 0
    result = run("save", url.replace("http://", "HTTP://"), "--archive", archive, "--json")
    assert result.returncode == 0, explain(result)
    assert json.loads(result.stdout)["pages"][0]["outcome"] == "there"


def test_pages_of_other_hosts_go_to_the_requests_outlet(server: FeedServer, archive: Path) -> None:
    other = html(server, "/elsewhere.html", page("别处的新闻")).replace("127.0.0.1", "localhost")
    refused = run("save", other, "--archive", archive, "--json")
    assert refused.returncode == 1, explain(refused)
    [failed] = json.loads(refused.stdout)["pages"]
    assert failed["outcome"] == "failed" and "loopback" in failed["reason"], failed  # no outlet vouches for this host
    with (archive / "newsarchive.toml").open("a", encoding="utf-8") as config:
        config.write('\n[[sources]]\nname = "按需存档"\nslug = "requests"\nfeeds = []\nenabled = false\nallow_private = true\n')
    saved = run("save", other, "--archive", archive, "--json")
    assert saved.returncode == 0, explain(saved)
    assert json.loads(saved.stdout)["pages"][0]["path"].startswith("articles/requests/")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("gone", "404"),
        ("not http", "not an http(s) address"),
        ("no text", "main text"),
        ("unknown outlet", "no such outlet"),
    ],
)
def test_what_cannot_be_saved_says_why(server: FeedServer, archive: Path, case: str, reason: str) -> None:
    good = html(server, "/good.html", page("好新闻"))
    bad = {
        "gone": [server.add("/gone.html", "gone", status=404)],
        "not http": ["ftp://127.0.0.1/x.html"],
        "no text": [html(server, "/empty.html", "<html><body><nav>菜单</nav></body></html>")],
        "unknown outlet": ["--outlet", "nothing"],
    }[case]
    result = run("save", good, *bad, "--archive", archive)
    assert "Traceback" not in result.stderr
    assert reason in result.stderr, explain(result)
    if case == "unknown outlet":
        assert result.returncode == 2, explain(result)
    else:
        assert result.returncode == 1, explain(result)
        assert "saved as articles/local/" in result.stderr, "the good page is saved all the same"
