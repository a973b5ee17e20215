"""The static site's search files brought up to date from the state's lists: the same bytes as a whole build,
written only where they change."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from newsarchive.publish import searchstate, sitesearch
from newsarchive.publish.sitesearch import SearchEntry

WORDS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法"
RARE = ["台湾", "选举", "鹦鹉螺", "biden", "香港", "王毅"]
Y2025, Y2026 = 1_740_000_000_000, 1_770_000_000_000  # February of each (ms)


def text(rng: random.Random) -> str:
    parts = ["".join(rng.choices(WORDS, k=rng.randint(5, 60))) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.3:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(RARE))
    return "，".join(parts) + "。"


class Site:
    """A state database and a site folder, written through searchstate as build-site does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = sqlite3.connect(root.with_suffix(".sqlite"))
        self.state.executescript(searchstate.SCHEMA)
        self.written: list[str] = []

    def put(self, path: str, number: int, title: str, body: str, source: str, pub_ms: int) -> None:
        tokens, counts = sitesearch.entry_tokens(title, body)
        page = path.replace(".md", ".html")
        entry = SearchEntry(number=number, page=page, title=title, source=source, pub_ms=pub_ms, tokens=tokens, counts=counts)
        searchstate.put(self.state, path, entry)  # committed with the files, as build-site does

    def drop(self, path: str) -> None:
        searchstate.drop(self.state, path.replace(".md", ".html"))

    def write(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
            self.written.append(path)

    def remove(self, path: str) -> None:
        (self.root / path).unlink(missing_ok=True)

    def build(self) -> list[str]:
        self.written = []
        searchstate.write_search_files(self.state, self.root, self.write, self.remove, {"a": "甲台", "b": "乙台"})
        return self.written

    def files(self) -> dict[str, bytes]:
        return {p.relative_to(self.root).as_posix(): p.read_bytes() for p in sorted(self.root.rglob("*.js"))}


@pytest.mark.parametrize("seed", [1, 2])
def test_search_files_brought_up_to_date_are_those_of_a_whole_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    monkeypatch.setattr(sitesearch, "SHARD_BYTES", 2_000)  # many shards, and their number moves as articles come
    whole_years: list[int] = []
    year_lists = sitesearch.year_lists
    monkeypatch.setattr(sitesearch, "year_lists", lambda entries: whole_years.append(1) or year_lists(entries))
    rng = random.Random(seed)
    articles: dict[str, tuple[int, str, str, str, int]] = {}
    site = Site(tmp_path / "site")
    number = 0
    shards: set[int] = set()

    def add(count: int, year_ms: int) -> None:
        nonlocal number
        for _ in range(count):
            path = f"articles/{rng.choice('ab')}/{number}.md"
            articles[path] = (number, text(rng)[:20], text(rng) * rng.randint(1, 3), path.split("/")[1], year_ms + number * 60_000)
            site.put(path, *articles[path])
            number += 1

    add(100, Y2025)
    add(20, Y2026)  # as 2026 grows, its number of shards does too
    site.build()
    for step in range(8):
        before = site.files()
        whole_years.clear()
        add(rng.randint(1, 12), Y2026)  # new articles, as each hourly update brings
        for path in rng.sample(sorted(articles), 3):  # edited: the text, the title, the time within the year
            n, title, body, source, pub_ms = articles[path]
            articles[path] = (n, rng.choice([title, text(rng)[:20]]), text(rng) + body[: len(body) // 2], source, pub_ms + 1000)
            site.put(path, *articles[path])
        removed = step == 5
        if removed:
            gone = rng.choice(sorted(articles))
            del articles[gone]
            site.drop(gone)
        written = site.build()
        after, made_whole = site.files(), len(whole_years)
        # A whole build of the same articles, from a new state, in another folder.
        fresh = Site(tmp_path / f"fresh{step}")
        for path, fields in sorted(articles.items(), key=lambda item: item[1][0]):
            fresh.put(path, *fields)
        fresh.build()
        assert after == fresh.files()
        assert sorted(written) == sorted(path for path in after if before.get(path) != after[path])
        # Only a year that lost an article is made in full; otherwise only the files that change are made.
        assert made_whole == (1 if removed else 0)
        shards.add(sitesearch.read_meta(site.root / "search/meta.js")["years"]["2026"]["shards"])
    assert len(shards) > 1


def test_a_year_whose_files_are_missing_is_made_again(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    for n in range(60):
        site.put(f"articles/a/{n}.md", n, f"标题{n}", "台湾的选举。" * (n % 5 + 1), "a", Y2026 + n * 60_000)
    site.build()
    whole = site.files()
    (tmp_path / "site/search/2026/d1.js").unlink()
    site.build()
    assert site.files() == whole
