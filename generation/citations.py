"""Citation parsing and checking: every returned citation must be supported by its source
and must quote text that lies on the page it names."""
from __future__ import annotations

import re

from core.text import ANSWER, NUMBER_WORDS

_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")
STOPWORDS = frozenset(
    "a an the and or but if then of to in on at by for with from as is are was were be been being this that these "
    "those it its it's they them their there here which who whom what when where why how not no yes do does did "
    "can could shall should will would may might must has have had i you we he she our your his her any all each "
    "such other than so also only into out up down over under about per via".split()
)


def cited_numbers(text: str) -> list[int]:
    return [int(n) for group in _CITE.findall(text) for n in re.split(r"\s*,\s*", group)]


def strip_citations(text: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", _CITE.sub("", text)).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences with their citation markers (a marker after the full stop stays with its sentence)."""
    # not across a line break: "[2]" leading the next line belongs to that line
    text = re.sub(r"([.!?])[ \t]*((?:\[\d+(?:\s*,\s*\d+)*\][ \t]*)+)", lambda m: " " + m.group(2).strip() + m.group(1) + " ", text)
    # A sentence ends at . ! ? followed by spaces and a capital, digit, quote or bracket, or
    # at a line break: "1.5 percent", "Clause 3.12.4" and "Acme, Inc. and Globex" stay whole,
    # and a line without a full stop is a sentence too (core.text.ANSWER).
    return ANSWER.sentences(text)


# A last piece that is only markers (or half of one): "[1" may still become "X. [1]",
# whose marker belongs to the sentence before it.
_MARKERS_ONLY = re.compile(r"^[\[\]\d,\s]*$")


def settled_sentences(prefix: str) -> list[str]:
    """The sentences of a text still being written that what comes next cannot change
    (for checking a streamed answer sentence by sentence): all but the last, and not the
    one before a trailing marker either."""
    pieces = split_sentences(prefix)
    keep = len(pieces) - 1
    if pieces and _MARKERS_ONLY.match(pieces[-1]):
        keep -= 1
    return pieces[:max(0, keep)]


_END = re.compile(r"^(.*?)\s*([.!?:;,\-]*)$", re.DOTALL)


def cite(sentence: str, numbers: list[int]) -> str:
    """A claim with its markers after it and before its full stop: "Texas law governs [1][3]."."""
    body, punct = _END.match(strip_citations(sentence)).groups()
    stop = punct[-1] if punct and punct[-1] in ".!?" else "."
    return f"{body} {''.join(f'[{n}]' for n in numbers)}{stop}" if numbers else f"{body}{stop}"


# A verbatim excerpt after an answer: "text" [n] (see AnswerService.with_excerpt).
_QUOTED = re.compile(r'(?:^|\n)"([^"]+)"\s*(\[\d+\])')


def quoted_excerpt(text: str, source: int) -> str:
    """The excerpt block appended to an answer: the source's words in quotes, then its marker."""
    return f'"{" ".join(text.replace(chr(34), chr(39)).split())}" [{source}]'


def claims(text: str) -> list[str]:
    """The units an answer asserts: each quoted excerpt with its marker as one unit (its
    marker covers every sentence inside the quotes), then the sentences of the rest."""
    units = [f"{m.group(1)} {m.group(2)}" for m in _QUOTED.finditer(text)]
    return units + split_sentences(_QUOTED.sub("\n", text))


# A model often writes "2" where the source says "two" (or the reverse): both count as "2".
_NUMBER_WORDS = {w: str(n) for w, n in NUMBER_WORDS.items()}


def content_words(text: str) -> list[str]:
    words = [_NUMBER_WORDS.get(w, w) for w in (w.lower().strip("'-") for w in _WORD.findall(text))]
    # a 5-letter prefix is a cheap stem: "terminate"/"termination", "renews"/"renewal"
    return [w[:5] for w in words if w and w not in STOPWORDS and (len(w) > 2 or w.isdigit())]


def support(sentence: str, source_text: str) -> float:
    """Share of the sentence's content words that occur in the source."""
    words = content_words(strip_citations(sentence))
    if not words:
        return 0.0  # a bare marker ("[1] [2]") supports nothing
    vocab = set(content_words(source_text))
    return sum(w in vocab for w in words) / len(words)
