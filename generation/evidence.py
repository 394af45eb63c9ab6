"""Evidence selection: the sentences of the retrieved chunks that best answer the question.

A small local model answers far better (and ~5x faster) from four relevant sentences
than from four 220-token chunks, and a citation of a sentence is a precise quote.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.text import PROSE, strip_span
from core.types import SearchHit

# A sentence ends at . ! ? followed by space and a capital, digit, quote or bracket, or at
# a blank line. Single line breaks are not boundaries: PDFs break lines mid-sentence.
# Pages are joined by blank lines, so a sentence never crosses a page boundary (core.text.PROSE).
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
    pairs = []
    for s, e in PROSE.pieces(hit.text):
        # a Markdown heading line is its own sentence, not the start of the next one
        nl = hit.text.find("\n", s, e)
        if hit.text[s:e].lstrip().startswith("#") and nl != -1:
            pairs += [(s, nl), (nl + 1, e)]
        else:
            pairs.append((s, e))
    for s, e in pairs:
        s, e = strip_span(hit.text, s, e)
        while e - s > MAX_CHARS:
            cut = hit.text.rfind(" ", s, s + MAX_CHARS)
            cut = cut if cut > s + MIN_CHARS else s + MAX_CHARS
            out.append((hit.char_start + s, hit.char_start + cut, hit.text[s:cut]))
            s = cut + 1
        if e - s >= MIN_CHARS:
            out.append((hit.char_start + s, hit.char_start + e, hit.text[s:e]))
    return out


def select_evidence(question_vec: np.ndarray, hits: Sequence[SearchHit], embed, n: int = 4, window: int = 0) -> list[Evidence]:
    """Top-n sentences by cosine similarity to the question, deduplicated by span. With
    window > 0 each one is extended by up to `window` following sentences of its chunk
    (a procedure's steps come after the sentence that matches the question); a sentence
    already inside an earlier passage is not chosen again."""
    candidates: list[tuple[SearchHit, int, int, str]] = []
    following: list[list[tuple[int, int]]] = []  # per candidate: the spans of the sentences after it in its chunk
    seen: set[tuple[int, int, int]] = set()
    for hit in hits:
        spans = sentences_of(hit)
        for i, (s, e, text) in enumerate(spans):
            key = (hit.document_id, s, e)
            if key not in seen:  # overlapping chunks repeat sentences
                seen.add(key)
                candidates.append((hit, s, e, text))
                following.append([(fs, fe) for fs, fe, _ in spans[i + 1 : i + 1 + window]])
    if not candidates:
        return []
    vecs = embed([c[3] for c in candidates])
    scores = vecs @ question_vec
    out: list[Evidence] = []
    for i in np.argsort(-scores, kind="stable"):
        hit, s, e, text = candidates[i]
        taken = [(ev.char_start, ev.char_end) for ev in out if ev.hit.document_id == hit.document_id]
        if any(a < e and s < b for a, b in taken):
            continue  # inside, or overlapping, a passage already chosen
        for fs, fe in following[i]:  # extend until a sentence another passage already holds
            if any(a < fe and fs < b for a, b in taken):
                break
            e = fe
        if e != candidates[i][2]:
            text = hit.text[s - hit.char_start : e - hit.char_start]
        out.append(Evidence(hit, s, e, text, float(scores[i])))
        if len(out) == n:
            break
    return out


def excerpt(ev: Evidence, sentences: int) -> Evidence:
    """The evidence passage extended by up to `sentences` sentences that follow it in its
    chunk, up to the next heading: the steps of a procedure come after the sentence that
    matched the question."""
    if sentences <= 0:
        return ev
    following = []
    for s, e, text in sentences_of(ev.hit):
        if s < ev.char_end:
            continue
        if text.lstrip().startswith("#") or len(following) == sentences:
            break  # a Markdown heading starts another section: the passage ends before it
        following.append((s, e))
    if not following:
        return ev
    end = following[-1][1]
    text = ev.hit.text[ev.char_start - ev.hit.char_start : end - ev.hit.char_start]
    return Evidence(ev.hit, ev.char_start, end, text, ev.score)
