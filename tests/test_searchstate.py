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
        searchstate.create_tables(self.state)
        self.written: list[str] = []

    def put(self, path: str, number: int, title: str, body: str, source: str, pub_ms: int, seen_ms: int) -> None:
        tokens, counts = sitesearch.entry_tokens(title, body)
        page = path.replace(".md", ".html")
        entry = SearchEntry(
            number=number, page=page, title=title, source=source, pub_ms=pub_ms, seen_ms=seen_ms, tokens=tokens, counts=counts
        )
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
    articles: dict[str, tuple[str, str, str, int, int]] = {}  # path -> title, text, outlet, time, first seen
    numbers: dict[str, int] = {}
    site = Site(tmp_path / "site")

    def put(path: str, title: str, body: str, pub_ms: int, seen_ms: int) -> None:
        numbers.setdefault(path, len(numbers))
        articles[path] = (title, body, path.split("/")[1], pub_ms, seen_ms)
        site.put(path, numbers[path], *articles[path])

    for n in range(120):  # imported (never seen arrive): ordered by time
        put(f"articles/{rng.choice('ab')}/{n}.md", text(rng)[:20], text(rng), (Y2025 if n < 100 else Y2026) + n * 60_000, 0)
    site.build()
    shards = {sitesearch.read_meta(site.root / "search/meta.js")["years"]["2026"]["shards"]}
    for step in range(8):
        before = site.files()
        whole_years.clear()
        for _ in range(rng.randint(1, 12)):  # new articles, as each hourly update brings; some dated earlier than others
            put(f"articles/{rng.choice('ab')}/{len(numbers)}.md", text(rng)[:20], text(rng) * 2, Y2026 + rng.randrange(10**9), step + 1)
        for path in rng.sample(sorted(articles), 3):  # edited: the text, and the title or not
            title, body, _, pub_ms, seen_ms = articles[path]
            put(path, rng.choice([title, text(rng)[:20]]), text(rng) + body[: len(body) // 2], pub_ms, seen_ms)
        if step == 5:  # one removed: its year's later articles move up
            gone = rng.choice(sorted(articles))
            del articles[gone]
            site.drop(gone)
        if step == 6:  # an imported article's time edited: it moves among the others
            path = min((p for p, a in articles.items() if a[4] == 0 and a[3] >= Y2026), key=lambda p: articles[p][3])
            put(path, *articles[path][:2], Y2026 + 10**9, 0)
        written = site.build()
        after, made_whole = site.files(), len(whole_years)
        # A whole build of the same articles, in another order (other numbers), from a new state, in another folder.
        fresh = Site(tmp_path / f"fresh{step}")
        for n, path in enumerate(rng.sample(sorted(articles), len(articles))):
            fresh.put(path, n, *articles[path])
        fresh.build()
        assert after == fresh.files()
        assert sorted(written) == sorted(path for path in after if before.get(path) != after[path])
        # Only a year that lost an article, or whose articles changed order, is made in full.
        assert made_whole == (1 if step in (5, 6) else 0)
        shards.add(sitesearch.read_meta(site.root / "search/meta.js")["years"]["2026"]["shards"])
    assert len(shards) > 1


def test_a_year_whose_files_are_missing_is_made_again(tmp_path: Path) -> None:
    site = Site(tmp_path / "site")
    for n in range(60):
        site.put(f"articles/a/{n}.md", n, f"标题{n}", "台湾的选举。" * (n % 5 + 1), "a", Y2026 + n * 60_000, 0)
    site.build()
    whole = site.files()
    (tmp_path / "site/search/2026/d1.js").unlink()
    site.build()
    assert site.files() == whole


def test_the_search_tables_of_an_older_state_are_made_again(tmp_path: Path) -> None:
    state = sqlite3.connect(tmp_path / "state.sqlite")
    state.executescript(
        "CREATE TABLE search_docs (path TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, page TEXT NOT NULL, title TEXT NOT NULL,"
        " source TEXT NOT NULL, pub_ms INTEGER NOT NULL, year INTEGER NOT NULL, tokens BLOB NOT NULL);"
        "INSERT INTO search_docs VALUES ('articles/a/1.md', 0, 'articles/a/1.html', '标题', 'a', 0, 1970, x'00');"
    )
    assert searchstate.create_tables(state)  # every article must be put again
    assert "seen_ms" in {name for _, name, *_ in state.execute("PRAGMA table_info(search_docs)")}
    assert state.execute("SELECT COUNT(*) FROM search_docs").fetchone() == (0,)
    assert not searchstate.create_tables(state)
