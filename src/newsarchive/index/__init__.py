"""The index: SQLite beside the archive files, always rebuildable from them (``reindex``)."""

from .db import ArticleRow, FeedState, Index

__all__ = ["ArticleRow", "FeedState", "Index"]
