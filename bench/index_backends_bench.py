"""The index on SQLite against the index on PostgreSQL: adding articles, looking keys up, reading them all back.

    python bench/index_backends_bench.py [--articles 10000] [--batch 100] [--rounds 10] [--database URL]

Both backends get the same articles, interleaved in rounds (a round of SQLite, then one of PostgreSQL, …) so that a
busy machine slows both alike: each batch is added in one ``atomic()`` with two keys per article, as ``apply()`` adds
an outlet's new articles; then every key is looked up with ``find_many`` a batch at a time (what the workers ask),
and every article read back with ``articles()``; last (on the throwaway server), the SQLite index is copied to
PostgreSQL and back into a new folder by ``newsarchive migrate``'s function. Without ``--database`` a throwaway
PostgreSQL server is started from the machine's binaries (tests/pg.py), on a Unix socket with fsync off: the
figures are the client's and the protocol's cost, not the disk's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import postgresql

from newsarchive.index.db import Index
from newsarchive.index.rows import ArticleRow
from newsarchive.store.layout import INDEX_FILE


def row(number: int) -> ArticleRow:
    return ArticleRow(
        rowid=0, source=f"s{number % 20}", file_id=1_048_575 - number, path=f"articles/s{number % 20}/{1_048_575 - number}.md",
        title=f"标题 {number}", link=f"https://example.org/{number}", guid=None, pub_ms=1_780_000_000_000 + number * 1000,
        fingerprint=f"{number:040x}", first_seen_ms=1_780_000_000_000, updated_ms=1_780_000_000_000, origin="https://example.org/feed",
        body_length=1000,
    )  # fmt: skip


def keys(number: int) -> list[str]:
    return [f"link:s{number % 20}:https://example.org/{number}", f"guid:s{number % 20}:{number}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database", help="an empty PostgreSQL database (default: a throwaway server)")
    args = parser.parse_args()
    with postgresql(args.database, "bench") as (url, cluster):
        from newsarchive.index.postgres import PostgresIndex

        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            indexes: dict[str, Any] = {"sqlite": Index(root / INDEX_FILE), "postgresql": PostgresIndex(url)}
            seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            per_round = args.articles // args.rounds
            for start in range(0, per_round * args.rounds, per_round):
                for name, index in indexes.items():
                    began = time.perf_counter()
                    for first in range(start, start + per_round, args.batch):
                        with index.atomic():
                            for number in range(first, min(first + args.batch, start + per_round)):
                                index.add_article(row(number), keys(number))
                    seconds[name]["add_article"] += time.perf_counter() - began
                    began = time.perf_counter()
                    for first in range(start, start + per_round, args.batch):
                        found = index.find_many([key for n in range(first, min(first + args.batch, start + per_round)) for key in keys(n)])
                        assert len(found) == 2 * min(args.batch, start + per_round - first)
                    seconds[name]["find_many"] += time.perf_counter() - began
            for name, index in indexes.items():
                began = time.perf_counter()
                assert sum(1 for _ in index.articles()) == per_round * args.rounds
                seconds[name]["articles()"] += time.perf_counter() - began
                index.close()
            moves = _migrate(root, cluster, args.database)
    total = per_round * args.rounds
    print(f"{total:,} articles, {args.batch} per transaction, 2 keys each, {args.rounds} interleaved rounds")
    print(f"{'':12} {'sqlite':>14} {'postgresql':>14} {'ratio':>7}")
    for what in ("add_article", "find_many", "articles()"):
        lite, pg = seconds["sqlite"][what], seconds["postgresql"][what]
        print(f"{what:12} {total / lite:>10,.0f} /s {total / pg:>10,.0f} /s {pg / lite:>6.2f}x")
    for what, (rows, seconds) in moves.items():
        print(f"migrate {what}: {rows:,} rows in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)")


def _migrate(root: Path, cluster: Any, database: str | None) -> dict[str, tuple[int, float]]:
    """The SQLite index to an empty database and back into a new folder: (rows, seconds) each way."""
    if cluster is None:
        return {}
    from newsarchive.migrate import migrate_index

    there = migrate_index(root, None, cluster.create_database("bench_migrate"))
    back_root = root / "back"
    (back_root / INDEX_FILE).parent.mkdir(parents=True)
    back = migrate_index(back_root, cluster.url("bench_migrate"), "sqlite")
    return {
        "to PostgreSQL": (sum(there.rows.values()), there.seconds),
        "to SQLite": (sum(back.rows.values()), back.seconds),
    }


if __name__ == "__main__":
    main()
