"""Sentence boundaries with character offsets, and number words: shared by every package
that reads text (ingestion, generation, review).

A sentence ends after ``. ! ?`` when white space and something that can open a sentence
follow, and at line breaks. What may open a sentence, which white space may sit between
and which line breaks count differ on purpose with the text being split, so each use is a
documented `SentenceSplitter` preset:

===========  ======================================  ============  =====================================
preset       opens a sentence after . ! ?            gap           line breaks that end a sentence
===========  ======================================  ============  =====================================
`CHUNK`      capital or digit, maybe after a quote   any space     every one (chunks keep a manual's lines)
             or bracket
`ANSWER`     capital, digit, quote or bracket        spaces/tabs   every one (a model's lines are claims)
`PROSE`      capital, digit, quote or bracket        any space     blank lines only (PDFs wrap lines
                                                                   mid-sentence)
`CLAUSE`     capital, quote or bracket, no digit     any space     blank lines, and a line break right
             (so "6.1" numbering does not end one)                 after . ! ?
===========  ======================================  ============  =====================================

review/segment.py keeps its own abbreviation- and numbering-aware splitter: CUAD's clause
candidates need "Inc." and "Section 2.1(a)" inside one sentence, at several granularities.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# . ! ? then white space then what opens a sentence
CAPITAL_OR_DIGIT = r"[\"'(\[]?[A-Z0-9]"
CAPITAL_DIGIT_QUOTE_OR_BRACKET = r"[A-Z0-9\"'(\[]"
CAPITAL_QUOTE_OR_BRACKET = r"[A-Z(\"“]"


@dataclass(frozen=True)
class SentenceSplitter:
    opener: str  # what may open the next sentence after . ! ? and the gap
    gap: str = r"\s+"  # the white space between them
    breaks: str = r"\n+"  # other boundaries (line breaks), matched on their own
    after_punct_line_break: bool = False  # . ! ? then a line break ends a sentence whatever follows
    _split: re.Pattern = field(init=False, repr=False, compare=False)
    _ends: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_split", re.compile(rf"(?<=[.!?]){self.gap}(?={self.opener})|{self.breaks}"))
        after = rf"{self.gap}{self.opener}" + (r"|\s*\n|$" if self.after_punct_line_break else "")
        # a match ends where a sentence does: after its . ! ?, or after a line break
        object.__setattr__(self, "_ends", re.compile(rf"[.!?](?={after})|{self.breaks}"))

    def pieces(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of the text between boundaries, as it stands: the white space next
        to a boundary that is not part of it stays, and a piece may be empty."""
        out = []
        start = 0
        for m in self._split.finditer(text):
            out.append((start, m.start()))
            start = m.end()
        out.append((start, len(text)))
        return out

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each sentence: text[start:end] has no white space at either end,
        and none is empty."""
        return [(s, e) for s, e in (strip_span(text, a, b) for a, b in self.pieces(text)) if e > s]

    def sentences(self, text: str) -> list[str]:
        return [text[s:e] for s, e in self.spans(text)]

    def around(self, text: str, start: int, end: int, limit: int = 900) -> tuple[int, int]:
        """The sentence holding text[start:end], at most `limit` characters either side of
        it (bounded searches: no scan to the text's end per call). A span that begins a
        sentence starts it: the backward search reads on past `start` over the white space
        and the opener there, so that a boundary's look-ahead sees the text at `start`, and
        keeps only the boundaries that begin before it (on CUAD: 82 governing-law evidence
        sentences lose a section number or an earlier clause, no term's value changes;
        docs/benchmarks.md, key terms, 2026-12-06)."""
        # a look-ahead is cut at the search's end (where `$` matches too): end it past the gap
        # and the opener (at most two characters) that follow `start`
        ahead = start
        while ahead < len(text) and ahead - start < limit and text[ahead].isspace():
            ahead += 1
        s = 0
        for m in self._ends.finditer(text, max(0, start - limit), min(len(text), ahead + 2)):
            if m.start() >= start:
                break
            s = min(m.end(), start)  # a run of line breaks may reach past `start`
        s = max(s, start - limit)
        m = self._ends.search(text, end, min(len(text), end + limit + 2))
        e = m.end() if m and m.end() - end < limit else min(len(text), end + limit)
        return strip_span(text, s, e)


def strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    """text[s:e] without the white space at either end, as offsets."""
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


CHUNK = SentenceSplitter(CAPITAL_OR_DIGIT, r"\s+", r"\n+")
ANSWER = SentenceSplitter(CAPITAL_DIGIT_QUOTE_OR_BRACKET, r"[ \t]+", r"\s*\n\s*")
PROSE = SentenceSplitter(CAPITAL_DIGIT_QUOTE_OR_BRACKET, r"\s+", r"\n\s*\n")
CLAUSE = SentenceSplitter(CAPITAL_QUOTE_OR_BRACKET, r"\s+", r"\n\s*\n", after_punct_line_break=True)


# -- number words ---------------------------------------------------------------------------------
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100})
