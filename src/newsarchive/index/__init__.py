"""The index: SQLite beside the archive files, always rebuildable from them (``reindex``)."""

from .db import Index
from .feeds import FeedState
from .rows import ArticleRow

__all__ = ["ArticleRow", "FeedState", "Index"]
