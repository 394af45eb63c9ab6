"""Candidate clause segments at several granularities, with exact character offsets.

CUAD's gold clauses rarely coincide with sentences: some span several sentences or a
whole paragraph, others are one item of a list, a piece of a sentence between
semicolons, a title or a date. `segment` therefore returns overlapping candidates:

- ``line``    each non-empty line (in extracted contract text usually a paragraph)
- ``sent``    sentences inside a line (abbreviation- and numbering-aware)
- ``sent2`` / ``sent3``  two or three consecutive sentences (may cross line breaks)
- ``piece``   pieces of a sentence cut at ``;``, ``:`` and inline list markers
  ``(a)``, ``(ii)``, ``(3)`` and runs of 2-3 consecutive pieces, and sentence prefixes
  ending at such a cut
- ``date``    date expressions ("June 21, 1999", "21st day of June, 1999", "6/21/99")
- ``title``   short capitalised lines near the start (document names)

Every Segment satisfies ``segment.text == text[segment.char_start:segment.char_end]``;
spans are stripped of surrounding whitespace and de-duplicated (the first granularity
that produced a span names its kind).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.text import strip_span

__all__ = ["Segment", "segment", "KINDS"]

KINDS = ("line", "sent", "sent2", "sent3", "piece", "date", "title")
MAX_SEGMENT_CHARS = 3000


@dataclass(frozen=True)
class Segment:
    char_start: int
    char_end: int
    text: str
    kind: str = "sent"


_ABBREV = {
    "inc", "co", "corp", "ltd", "llc", "l.l.c", "l.p", "lp", "no", "nos", "sec", "secs", "art", "u.s", "u.s.a",
    "e.g", "i.e", "mr", "mrs", "ms", "dr", "st", "jr", "sr", "n.a", "vs", "v", "approx", "para", "s.a", "b.v",
    "n.v", "ag", "gmbh", "plc", "pty", "s.p.a", "bhd", "etc", "et al", "al", "fig", "ex", "exh", "p", "pp", "cf",
    "dept", "div", "intl", "int'l", "assoc", "bros", "mfg", "min", "max", "avg", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec", "ave", "blvd", "rd", "ste", "fl", "tel", "fax",
    "incl", "ref", "viz", "c", "s", "a", "nr",
}

# end of sentence: . ! ? (optionally closing quotes/brackets) + whitespace + a plausible sentence start
_SENT_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.'&]*|\d[\d.]*)$")
_PIECE_CUT = re.compile(r"[;:](?=\s)|\s(?=\((?:[a-z]{1,2}|[ivxlc]{1,5}|\d{1,2})\)\s)|\s(?=(?:and|or)\s\((?:[a-z]|[ivx]{1,4}|\d)\)\s)")
_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)"
_ORD = r"(?:\s?(?:s\s?t|n\s?d|r\s?d|t\s?h))"
_DAYNUM = r"(?:\d{1,2}" + _ORD + r"?|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\[[^\]\n]{0,12}\]|_{2,})"
_YEAR = r"(?:\d{4}|\d{2,3}_{1,2}|_{2,}\d{0,2})"
_DATE = re.compile(
    r"(?:(?:this|the)\s+)?(?:" + _DAYNUM + r"\s+(?:\(\d{1,2}" + _ORD + r"\)\s+)?)?day\s+of\s+(?:" + _MONTHS + r"|\[[^\]\n]{0,12}\]|_{2,}),?\s+(?:A\.D\.\s+)?" + _YEAR +
    r"|" + _MONTHS + r"\s+" + _DAYNUM + r"\s*,?\s*" + _YEAR +
    r"|" + _DAYNUM + r"\s+" + _MONTHS + r",?\s+" + _YEAR +
    r"|" + _MONTHS + r",?\s+" + _YEAR +
    r"|\b\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b",
    re.IGNORECASE,
)
_TITLE_END = re.compile(r"\b(?:AGREEMENT|Agreement|CONTRACT|Contract|LICEN[SC]E|License|AMENDMENT|Amendment|ADDENDUM|Addendum|MEMORANDUM|PLAN|ARRANGEMENT|Arrangement|TERMS|LEASE|Lease|DEED|PROTOCOL|MOU)S?\b")
_TITLE_WORD = re.compile(r"(?:[A-Z0-9][\w&'’.,\-/]*|of|and|for|the|to|in|on|de)$")


def _is_false_end(text: str, line_start: int, sent_start: int, pos: int) -> bool:
    """Is the punctuation at text[pos] not a sentence end (abbreviation, numbering, initial)?"""
    if text[pos] != ".":
        return False
    m = _WORD_BEFORE.search(text, max(line_start, pos - 20), pos)
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    if word in _ABBREV:
        return True
    if len(word) == 1 and word.isalpha():  # initials, "(a)." is rare
        return True
    if word.replace(".", "").isdigit():
        # section numbers ("1.", "2.3.") at the start of a sentence, and "No. 5." forms
        if not text[sent_start:m.start()].strip():
            return True
        if re.search(r"(?:Section|Sections|Article|Clause|Exhibit|Schedule|§)\s*$", text[max(sent_start, m.start() - 12):m.start()], re.IGNORECASE):
            return True
    return False


def _sentences(text: str, s: int, e: int) -> list[tuple[int, int]]:
    out = []
    start = s
    for m in _SENT_END.finditer(text, s, e):
        if _is_false_end(text, s, start, m.start()):
            continue
        a, b = strip_span(text, start, m.end())
        if b > a:
            out.append((a, b))
        start = m.end()
    a, b = strip_span(text, start, e)
    if b > a:
        out.append((a, b))
    return out


def _pieces(text: str, s: int, e: int) -> list[tuple[int, int]]:
    cuts = [s]
    for m in _PIECE_CUT.finditer(text, s, e):
        cuts.append(m.end())
    cuts.append(e)
    out = []
    for a, b in zip(cuts, cuts[1:]):
        a, b = strip_span(text, a, b)
        if b > a:
            out.append((a, b))
    return out


def _lines(text: str) -> list[tuple[int, int]]:
    out = []
    pos = 0
    for line in text.splitlines(keepends=True):
        a, b = strip_span(text, pos, pos + len(line))
        if b > a:
            out.append((a, b))
        pos += len(line)
    return out


def segment(text: str, kinds: tuple[str, ...] = KINDS) -> list[Segment]:
    """Overlapping candidate spans of `text` at several granularities, in document order."""
    spans: dict[tuple[int, int], str] = {}

    def add(a: int, b: int, kind: str) -> None:
        a, b = strip_span(text, a, b)
        if b <= a or b - a > MAX_SEGMENT_CHARS:
            return
        if not any(ch.isalnum() for ch in text[a:b]):
            return
        spans.setdefault((a, b), kind)

    lines = _lines(text)
    sents: list[tuple[int, int]] = []
    for ls, le in lines:
        sents.extend(_sentences(text, ls, le))
    want = set(kinds)
    if "line" in want:
        for a, b in lines:
            add(a, b, "line")
    if "sent" in want:
        for a, b in sents:
            add(a, b, "sent")
    if "sent2" in want:
        for (a, _), (_, b) in zip(sents, sents[1:]):
            add(a, b, "sent2")
    if "sent3" in want:
        for (a, _), _, (_, b) in zip(sents, sents[1:], sents[2:]):
            add(a, b, "sent3")
    if "piece" in want:
        for sa, sb in sents:
            ps = _pieces(text, sa, sb)
            if len(ps) < 2:
                continue
            for i, (a, b) in enumerate(ps):
                add(a, b, "piece")
                if i + 1 < len(ps):
                    add(a, ps[i + 1][1], "piece")
                if i + 2 < len(ps):
                    add(a, ps[i + 2][1], "piece")
                if i > 0:
                    add(sa, b, "piece")  # sentence head up to this cut
    if "date" in want:
        for m in _DATE.finditer(text):
            add(m.start(), m.end(), "date")
    if "title" in want:
        head_end = min(len(text), 4000)
        for a, b in lines:
            if a < head_end and b - a <= 150:
                add(a, b, "title")
            if a < head_end:  # runs separated by 2+ spaces inside a line
                for m in re.finditer(r"\S(?:.*?\S)?(?=\s{2,}|$)", text[a:b]):
                    add(a + m.start(), a + m.end(), "title")
        for m in _TITLE_END.finditer(text, 0, head_end):
            end = m.end()
            if end < len(text) and text[end] == "S":
                continue
            pos = m.start()
            for _ in range(10):  # extend backwards word by word over capitalised words
                j = pos
                while j > 0 and text[j - 1] in " \t":
                    j -= 1
                if j == 0 or text[j - 1] == "\n":
                    break
                k = j
                while k > 0 and not text[k - 1].isspace():
                    k -= 1
                word = text[k:j]
                if not _TITLE_WORD.match(word) or word.upper() == "THIS" or word == "The":
                    break
                pos = k
                if word[0].isupper():
                    add(pos, end, "title")
            add(m.start(), end, "title")
    return [Segment(a, b, text[a:b], kind) for (a, b), kind in sorted(spans.items())]
