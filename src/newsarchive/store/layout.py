"""Where things live in an archive, and how article ids and file names are made."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ArchiveNotFoundError

ARTICLES = "articles"
LISTS = "lists"
REVISIONS = "revisions"
WARC_DIR = "warc"  # raw captures: warc/<UTC day>.warc.gz
HIDDEN = ".newsarchive"
INDEX_FILE = f"{HIDDEN}/index.sqlite"
LOCK_FILE = f"{HIDDEN}/lock"
SEARCH_DIR = f"{HIDDEN}/search"
CONFIG_FILE = "newsarchive.toml"
# What readers on other machines copy (store/replica.py): everything a page is made from. Not WARC captures (the
# archive's raw record, large, read by no page), nor .newsarchive/ (the index is in the database; search is their own).
REPLICATED_FOLDERS = (ARTICLES, REVISIONS, LISTS, "media", "takedowns")
REPLICATED_FILES = ("README.md", CONFIG_FILE, "health.json", "health.md")

# Ids count down from 0xFFFFF, so that sorting file names lists the newest article first.
TOP_ID = 0xFFFFF

_FILE_NAME = re.compile(r"^(\d+)(?:_.*)?\.md$", re.DOTALL)


def file_id(name: str) -> int | None:
    """The id in ``<id>.md`` or ``<id>_<title>.md``; None for any other name."""
    match = _FILE_NAME.match(name)
    return int(match[1]) if match else None


def article_path(folder: str, number: int) -> str:
    return f"{ARTICLES}/{folder}/{number}.md"


def revision_path(path: str, seen_ms: int) -> str:
    """Where an earlier version of ``articles/<folder>/<name>.md`` is kept, named by when it was first seen."""
    folder_and_name = path.removeprefix(ARTICLES + "/").removesuffix(".md")
    return f"{REVISIONS}/{folder_and_name}/{seen_ms}.md"


def article_of_revision(path: str) -> str:
    return ARTICLES + "/" + path.removeprefix(REVISIONS + "/").rpartition("/")[0] + ".md"


def list_path(name: str) -> str:
    return f"{LISTS}/{name}.md"


def replicated(path: str) -> bool:
    """Whether readers on other machines copy the file at ``path`` (relative, with /)."""
    top, _, rest = path.partition("/")
    if not rest:
        return path in REPLICATED_FILES
    return top in REPLICATED_FOLDERS and ".." not in rest.split("/") and not path.endswith(".newsarchive-tmp")


def find_root(start: Path) -> Path:
    """The archive that contains ``start``, found as git finds its repository: the nearest folder upwards
    holding newsarchive.toml or .newsarchive/."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file() or (folder / HIDDEN).is_dir():
            return folder
    raise ArchiveNotFoundError(f"no archive at {start} or any folder above it")
