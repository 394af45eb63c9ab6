"""Answer-quality metrics: SQuAD exact match / token F1, ROUGE-L, citation precision,
groundedness, and the no-LLM extractive baseline.

The text metrics are pure functions of strings. The citation metrics take the store (or
plain document text) because a citation is only right if the document really says it.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from generation.citations import claims, cited_numbers, content_words, split_sentences, strip_citations, support

if TYPE_CHECKING:
    from workers.runtime import Runtime

__all__ = [
    "answer_form_scores",
    "answer_text",
    "answer_text_with_excerpt",
    "best_of",
    "citation_checks",
    "citation_ok",
    "citation_precision",
    "exact_match",
    "extractive_answer",
    "groundedness",
    "normalize_answer",
    "rouge_l",
    "token_f1",
]

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


# -- text metrics -------------------------------------------------------------------------
def normalize_answer(s: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, punctuation and articles out,
    whitespace collapsed (in that order, as evaluate-v1.1.py does)."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1: overlap counted with multiplicity (a token repeated twice in both
    counts twice). Two empty answers agree (1.0); one empty answer scores 0."""
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def best_of(metric: Callable[[str, str], float], prediction: str, golds: Iterable[str]) -> float | None:
    """Max of a metric over several gold answers (SQuAD scores against the best one); None without golds."""
    scores = [metric(prediction, g) for g in golds]
    return max(scores) if scores else None


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F1 (longest common subsequence, Porter stemming) from `rouge-score`.
    An empty side scores 0 (the package's convention)."""
    return float(_rouge_scorer().score(gold, prediction)["rougeL"].fmeasure)


def answer_text(answer: Any) -> str:
    """What an answer claims, for text metrics: citation markers out; an abstention claims nothing."""
    if getattr(answer, "abstained", False):
        return ""
    return " ".join(_MARKER.sub("", answer.answer).split())


def answer_text_with_excerpt(answer: Any) -> str:
    """The answer as the CLI prints it (its quoted passage appended), markers out: how
    answers were scored before `answer` and `excerpt` were apart, kept to compare."""
    if getattr(answer, "abstained", False):
        return ""
    return " ".join(_MARKER.sub("", answer.display_text()).split())


_LEADING_MARKER = re.compile(r"^\s*\[\d+(?:\s*,\s*\d+)*\]")


def _form(text: str) -> tuple[bool, bool]:
    """(starts with a marker, is a list of "[n] fragment" lines: two or more lines led by a marker)."""
    led = sum(bool(_LEADING_MARKER.match(line)) for line in text.splitlines() if line.strip())
    return bool(_LEADING_MARKER.match(text)), led >= 2


def answer_form_scores(answer: Any) -> dict[str, float]:
    """The grounding invariant and the answer's form, for the answer given and for the
    model's draft as returned before the check rewrote it (`draft_*`: the old behaviour,
    which returned a draft with content words even when no citation survived)."""
    given = "" if answer.abstained else answer.answer
    starts, listed = _form(given)
    draft = getattr(answer, "draft", "") or ""
    d_starts, d_listed = _form(draft)
    draft_has_content = bool(content_words(strip_citations(draft)))
    claims_without_marker = sum(1 for sentence in split_sentences(given)
                                if content_words(strip_citations(sentence)) and not cited_numbers(sentence))
    return {
        "uncited": float(not answer.abstained and not answer.citations),
        "uncited_claims": float(claims_without_marker),  # sentences stating something with no marker
        "starts_with_marker": float(starts),
        "marker_list": float(listed),
        # the old path answered with the draft whenever it had words; the fallback marks
        # the drafts whose every citation the check rejected
        "draft_uncited": float(not answer.abstained and answer.extractive and draft_has_content),
        "draft_starts_with_marker": float(draft_has_content and d_starts),
        "draft_marker_list": float(draft_has_content and d_listed),
        "fallback_extractive": float(answer.extractive),
    }


# -- citations ------------------------------------------------------------------------------
def citation_ok(text: str, page_span: tuple[int, int], char_start: int, char_end: int, quote: str) -> bool:
    """A citation is right when its quote is non-empty, is the document text at its span,
    and that span lies on the cited page (so the page text contains the quote)."""
    start, end = page_span
    return bool(quote) and start <= char_start and char_end <= end and text[char_start:char_end] == quote


def citation_checks(store: Any, citations: Sequence[Any]) -> list[bool]:
    """`citation_ok` for each citation (objects with document_id, page, char_start, char_end,
    quote), loading each cited document once."""
    docs: dict[int, Any] = {}
    out = []
    for c in citations:
        doc = docs.get(c.document_id) or docs.setdefault(c.document_id, store.get_document(c.document_id))
        out.append(citation_ok(doc.text or "", doc.page_span(c.page), c.char_start, c.char_end, c.quote))
    return out


def citation_precision(checks: Sequence[bool]) -> float | None:
    """Share of an answer's citations that check out; None when it cites nothing."""
    return sum(checks) / len(checks) if checks else None


def groundedness(text: str, quotes: Mapping[int, str], min_support: float) -> float | None:
    """Share of an answer's sentences (a quoted excerpt being one) that carry a citation marker [n] whose quote
    (`quotes[n]`, the checked citation's text) supports the sentence, measured as in
    generation.citations.support. Sentences without content words (a bare "[1]") are
    not counted; None when nothing is left (e.g. an abstention)."""
    counted = grounded = 0
    for sentence in claims(text):  # a quoted excerpt and its marker count as one claim
        if not content_words(strip_citations(sentence)):
            continue
        counted += 1
        grounded += any(n in quotes and support(sentence, quotes[n]) >= min_support for n in cited_numbers(sentence))
    return grounded / counted if counted else None


def answer_citation_scores(runtime: "Runtime", answer: Any) -> dict[str, float | None]:
    """citation_precision and groundedness of one product Answer (None for an abstention)."""
    if answer.abstained:
        return {"citation_precision": None, "groundedness": None}
    cited = answer.all_citations() if hasattr(answer, "all_citations") else answer.citations
    checks = citation_checks(runtime.store, cited)
    quotes = {c.source: c.quote for c, ok in zip(answer.citations, checks) if ok}
    return {
        "citation_precision": citation_precision(checks),
        "groundedness": groundedness(answer.answer, quotes, runtime.settings.citation_min_support),
    }


# -- baseline ---------------------------------------------------------------------------------
def extractive_answer(runtime: "Runtime", index: Any, question: str, document_ids: list[int] | None = None) -> tuple[str, list]:
    """The no-LLM baseline: the sentence of the top chunk that best matches the question
    (the evidence selector the answer path uses). Returns (text, hits)."""
    from core.types import SearchFilters
    from generation.evidence import select_evidence

    filters = SearchFilters(document_ids=document_ids) if document_ids is not None else None
    hits = runtime.search_service.search(index, question, k=1, filters=filters)
    if not hits:
        return "", []
    ev = select_evidence(runtime.search_service.embed_query(question), hits, runtime.embedder.embed_documents, n=1)
    return (ev[0].text if ev else hits[0].text), hits
