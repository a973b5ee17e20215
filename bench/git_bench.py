"""Time `newsarchive publish --push` on a git archive of N article files (default 500,000): the one-time
first commit, then publishes after small updates (new articles, an edit, the lists), each pushed to a
bare mirror on disk; with git's defaults and with `feature.manyFiles` (index v4, untracked cache), which
`newsarchive init --git` sets.

    python bench/git_bench.py [--files 500000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import newsarchive, settle, timed
from import_bench import generate


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def small_update(root: Path, round_number: int) -> None:
    """What an hourly update writes: a few new articles, one edited article, its outlet's list."""
    folder = root / "articles" / "rfi"
    for n in range(20):
        number = 900_000 - round_number * 100 - n
        (folder / f"{number}.md").write_text(
            f"<!--{1_800_000_000_000 + n}-->\n[第{round_number}轮第{n}条](https://rfi.example.org/{round_number}/{n})\n------\n\n<p>正文</p>\n",
            encoding="utf-8",
        )
    edited = next(folder.glob("10485*.md"))
    edited.write_text(edited.read_text(encoding="utf-8") + f"<p>更新 {round_number}</p>\n", encoding="utf-8")
    (root / "lists").mkdir(exist_ok=True)
    (root / "lists" / "法广.md").write_text(f"法广\n------\n\n第{round_number}轮\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=10)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="git-", dir=options.workdir))
    try:
        archive, mirror = work / "archive", work / "mirror.git"
        timed(newsarchive("init", str(archive)))
        size = generate(archive, options.files)
        git(work, "init", "--quiet", "--bare", str(mirror))
        with (archive / "newsarchive.toml").open("a", encoding="utf-8") as config:
            config.write(f'\n[[mirrors]]\nname = "disk"\nurl = "{mirror.as_uri()}"\n')
        git(archive, "init", "--quiet")
        print(f"{options.files:,} files, {size / 1e9:.1f} GB")
        for label, settings in (("git defaults", ()), ("feature.manyFiles", ("feature.manyFiles", "true"))):
            if settings:
                git(archive, "config", *settings)
                git(archive, "update-index", "--index-version", "4")
            settle(options.settle)
            if label == "git defaults":
                seconds, peak, _ = timed(newsarchive("publish", "--archive", str(archive)))
                print(f"first commit of everything: {seconds:.1f} s (peak {peak:.0f} MB)")
                pushed, _, _ = timed(["git", "-C", str(archive), "push", "--quiet", mirror.as_uri(), "HEAD"])
                print(f"first push of everything to the bare mirror: {pushed:.1f} s")
            times = []
            for round_number in range(options.rounds):
                small_update(archive, round_number + (100 if settings else 0))
                settle(1)
                seconds, peak, _ = timed(newsarchive("publish", "--push", "--archive", str(archive)))
                times.append(seconds)
            print(f"{label:<20} publish --push after a small update: median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
