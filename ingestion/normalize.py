"""Text normalisation that keeps a page map consistent with the final text."""
from __future__ import annotations

import re
import unicodedata

from core.types import PageSpan

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_TRAILING = re.compile(r"[ \t]+\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

PAGE_SEPARATOR = "\n\n"


def normalize_text(text: str) -> str:
    """NFKC (ligatures such as 'ﬁ' become 'fi'), control characters out, whitespace tidied."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def join_pages(page_texts: list[str]) -> tuple[str, list[PageSpan]]:
    """Normalise each page and join them; PageSpan n covers exactly page n's text."""
    parts: list[str] = []
    spans: list[PageSpan] = []
    pos = 0
    for number, raw in enumerate(page_texts, start=1):
        page = normalize_text(raw)
        if parts:
            parts.append(PAGE_SEPARATOR)
            pos += len(PAGE_SEPARATOR)
        spans.append(PageSpan(number=number, char_start=pos, char_end=pos + len(page)))
        parts.append(page)
        pos += len(page)
    return "".join(parts), spans
