"""Evidence selection: the sentences of the retrieved chunks that best answer the question.

A small local model answers far better (and ~5x faster) from four relevant sentences
than from four 220-token chunks, and a citation of a sentence is a precise quote.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.types import SearchHit

# A sentence ends at . ! ? followed by space and a capital, digit, quote or bracket, or at
# a blank line. Single line breaks are not boundaries: PDFs break lines mid-sentence.
# Pages are joined by blank lines, so a sentence never crosses a page boundary.
_BOUNDARY = re.compile(r"\n\s*\n|(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
MIN_CHARS = 12
MAX_CHARS = 400


@dataclass
class Evidence:
    hit: SearchHit
    char_start: int  # into the document text
    char_end: int
    text: str
    score: float


def sentences_of(hit: SearchHit) -> list[tuple[int, int, str]]:
    """(start, end, text) in document offsets; long runs are cut into MAX_CHARS windows."""
    out = []
    bounds = [0] + [x for m in _BOUNDARY.finditer(hit.text) for x in (m.start(), m.end())] + [len(hit.text)]
    pairs = []
    for s, e in zip(bounds[::2], bounds[1::2]):
        # a Markdown heading line is its own sentence, not the start of the next one
        nl = hit.text.find("\n", s, e)
        if hit.text[s:e].lstrip().startswith("#") and nl != -1:
            pairs += [(s, nl), (nl + 1, e)]
        else:
            pairs.append((s, e))
    for s, e in pairs:
        while s < e and hit.text[s].isspace():
            s += 1
        while e > s and hit.text[e - 1].isspace():
            e -= 1
        while e - s > MAX_CHARS:
            cut = hit.text.rfind(" ", s, s + MAX_CHARS)
            cut = cut if cut > s + MIN_CHARS else s + MAX_CHARS
            out.append((hit.char_start + s, hit.char_start + cut, hit.text[s:cut]))
            s = cut + 1
        if e - s >= MIN_CHARS:
            out.append((hit.char_start + s, hit.char_start + e, hit.text[s:e]))
    return out


def select_evidence(question_vec: np.ndarray, hits: Sequence[SearchHit], embed, n: int = 4) -> list[Evidence]:
    """Top-n sentences by cosine similarity to the question, deduplicated by span."""
    candidates: list[tuple[SearchHit, int, int, str]] = []
    seen: set[tuple[int, int, int]] = set()
    for hit in hits:
        for s, e, text in sentences_of(hit):
            key = (hit.document_id, s, e)
            if key not in seen:  # overlapping chunks repeat sentences
                seen.add(key)
                candidates.append((hit, s, e, text))
    if not candidates:
        return []
    vecs = embed([c[3] for c in candidates])
    scores = vecs @ question_vec
    order = np.argsort(-scores, kind="stable")[:n]
    return [Evidence(candidates[i][0], candidates[i][1], candidates[i][2], candidates[i][3], float(scores[i])) for i in order]
