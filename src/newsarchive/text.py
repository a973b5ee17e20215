"""Plain text from article HTML, for search and snippets: tags dropped, entities decoded, paragraph
breaks kept. The stored article files are never changed; this is derived at output time."""

from __future__ import annotations

import html
import re

_BLOCK = re.compile(
    r"<\s*/?\s*(?:p|div|br|li|h[1-6]|blockquote|section|article|figure|figcaption|tr|table|ul|ol|pre|main|header|footer)\b[^>]*>", re.I
)
_DROP = re.compile(r"<(script|style|noscript|iframe)\b.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\xa0\u3000]+")
_BREAKS = re.compile(r"\s*\n\s*")


def plain_text(body: str) -> str:
    """The readable text of an HTML body, one paragraph per line."""
    text = _COMMENT.sub("", _DROP.sub("", body))
    text = _TAG.sub("", _BLOCK.sub("\n", text))
    text = _SPACES.sub(" ", html.unescape(text))
    return _BREAKS.sub("\n", text).strip()
