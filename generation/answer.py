"""Grounded question answering: retrieve -> numbered sources -> answer with [n] -> check.

The grounding invariant: an Answer is either abstained (with its reason) or every
sentence of it that states something carries at least one citation the check verified.
Every citation names a source that exists, whose text supports the sentence citing it,
and quotes document text lying on the page it names. The model's sentences that no
evidence supports are dropped; when none is left, the best evidence sentence is the
answer, quoted with its citation (settings.answer_unverified). Weak retrieval, or a
model that says the sources lack the answer, gives an abstention.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field

from core.settings import Settings
from core.store import Store
from core.types import SearchFilters, SearchHit
from generation.base import Completion, Generator, Message, Usage
from generation.citations import (cite, cited_numbers, content_words, quoted_excerpt, settled_sentences, split_sentences,
                                  strip_citations, support)
from generation.evidence import Evidence, excerpt, select_evidence
from generation.prompts import NOT_FOUND, answer_messages, condense_messages
from retrieval.collection_index import CollectionIndex
from retrieval.search import SearchService

log = logging.getLogger(__name__)

_REFUSAL = re.compile(
    r"(not_?found|not (?:mentioned|stated|specified|provided|included|found|available|contained)"
    r"|(?:do|does) not (?:contain|mention|state|specify|say|provide)|no information|cannot (?:find|answer|determine)"
    r"|unable to (?:find|answer|determine)|i don'?t know)",
    re.IGNORECASE,
)

# A sentence the model copied from its evidence is content, even when it reads like a
# refusal: manuals say "This function is not available while recording" a lot, and the
# 0.5B default often echoes its evidence. Measured on E-Manual: 27 of 684 answerable
# questions were abstained on because of such copied sentences.
COPIED_SUPPORT = 0.9


def _is_refusal(sentence: str, sources: str) -> bool:
    """The sentence says the evidence does not hold the answer: NOT_FOUND, or a refusal
    phrase in the model's own words rather than in a copy of the evidence (`sources`).
    What a refusal does to the answer is Grounding's rule."""
    plain = strip_citations(sentence)
    return NOT_FOUND in sentence or bool(_REFUSAL.search(plain) and support(plain, sources) < COPIED_SUPPORT)


@dataclass
class Citation:
    source: int
    document_id: int
    document_name: str
    page: int
    char_start: int
    char_end: int
    quote: str


@dataclass
class Excerpt:
    """The passage an answer rests on, verbatim, apart from the answer's own words."""
    text: str
    citation: Citation

    def to_dict(self) -> dict:
        return {"text": self.text, "citation": asdict(self.citation)}


# A list number the sentence splitter cut off ("1." of "1. Press HOME") is not a claim.
_LIST_NUMBER = re.compile(r"^\(?\d{1,2}[.)]?$")


class Grounding:
    """The check, one sentence at a time, so that a streamed answer can be sent as it is
    verified and the stream is exactly the checked answer.

    Sentences no evidence supports are dropped, bare markers and list numbers too; a claim
    repeated right after itself (the small model echoes its numbered evidence) is kept once
    with all its markers. Text is final, and returned by `add`, once a later claim begins:
    until then the last claim may still gain markers. A refusal ("the documents do not
    say") before any verified claim makes the answer an abstention; after one, it is
    dropped like any unsupported sentence."""

    def __init__(self, service: "AnswerService", evidence: Sequence[Evidence]):
        self.service, self.evidence = service, evidence
        self.claims: dict[str, tuple[str, list[int]]] = {}
        self.parts: list[tuple[str, str]] = []  # ("claim", key) | ("text", sentence), in order
        self.sent = 0  # parts already returned
        self.text = ""  # what has been returned, joined
        self.dropped = self.unsupported = 0
        self.refused = False
        self._sources = " ".join(ev.text for ev in evidence)

    def _render(self, part: tuple[str, str]) -> str:
        kind, value = part
        return cite(*self.claims[value]) if kind == "claim" else value

    def _release(self, upto: int) -> str:
        out = " ".join(self._render(p) for p in self.parts[self.sent:upto])
        if not out:
            return ""
        out = f" {out}" if self.text else out
        self.sent, self.text = upto, self.text + out
        return out

    def add(self, sentence: str) -> str:
        """Check one sentence; returns the text that became final ("" if none)."""
        if self.refused:
            return ""
        plain = strip_citations(sentence)
        if not plain or _LIST_NUMBER.match(plain):
            return ""
        if _is_refusal(sentence, self._sources):
            if self.claims:
                self.unsupported += 1
            else:
                self.refused = True
            return ""
        if not content_words(plain):  # "Yes." states nothing a source must back
            self.parts.append(("text", cite(plain, [])))
            return ""
        valid, lost = self.service._verified(sentence, self.evidence)
        self.dropped += lost
        if not valid:
            self.unsupported += 1
            return ""
        key = " ".join(content_words(plain))
        last_claim = next((i for i in range(len(self.parts) - 1, -1, -1) if self.parts[i][0] == "claim"), None)
        if key in self.claims:
            if last_claim is not None and self.parts[last_claim][1] == key:
                self.claims[key][1].extend(n for n in valid if n not in self.claims[key][1])
            return ""  # an echo of an earlier claim, already said
        self.claims[key] = (plain, list(valid))
        self.parts.append(("claim", key))
        # Everything before this claim is final now.
        return self._release(len(self.parts) - 1)

    def close(self) -> str:
        """The end of the draft: the rest becomes final (nothing when no claim was verified)."""
        return self._release(len(self.parts)) if self.claims and not self.refused else ""

    def citations(self, docs: dict | None = None) -> list[Citation]:
        if self.refused:
            return []
        numbers = list(dict.fromkeys(n for _, ns in self.claims.values() for n in ns))
        docs = {} if docs is None else docs
        return [self.service._citation(n, self.evidence[n - 1], docs) for n in numbers]




@dataclass
class Answer:
    answer: str
    abstained: bool
    citations: list[Citation]
    model: str
    usage: dict
    timings: dict
    question: str = ""
    standalone_question: str = ""
    unsupported_citations: int = 0
    extractive: bool = False  # the model gave no usable text; the best evidence sentence is the answer
    abstain_reason: str | None = None
    sources: list[SearchHit] = field(default_factory=list)
    excerpt: Excerpt | None = None
    draft: str = ""  # the model's own text before the check, for evaluation and debugging
    unsupported_sentences: int = 0  # the model's sentences dropped because no evidence supports them

    def display_text(self) -> str:
        """The answer followed by its quoted passage, as the CLI and the chat endpoint show it."""
        if self.excerpt is None:
            return self.answer
        return f"{self.answer}\n\n{quoted_excerpt(self.excerpt.text, self.excerpt.citation.source)}"

    def all_citations(self) -> list[Citation]:
        return [*self.citations, *([self.excerpt.citation] if self.excerpt else [])]

    def to_dict(self, with_sources: bool = False) -> dict:
        out = {
            "answer": self.answer,
            "text": self.display_text(),  # the answer and its quoted excerpt, as a reader sees it
            "abstained": self.abstained,
            "citations": [asdict(c) for c in self.citations],
            "excerpt": self.excerpt.to_dict() if self.excerpt else None,
            "model": self.model,
            "usage": self.usage,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if self.standalone_question and self.standalone_question != self.question:
            out["standalone_question"] = self.standalone_question
        if self.abstain_reason:
            out["abstain_reason"] = self.abstain_reason
        out["unsupported_citations"] = self.unsupported_citations
        out["unsupported_sentences"] = self.unsupported_sentences
        out["extractive"] = self.extractive
        if with_sources:
            out["sources"] = [h.to_dict() for h in self.sources]
        return out


@dataclass
class AnswerService:
    store: Store
    search: SearchService
    generator: Generator
    settings: Settings

    # -- steps ---------------------------------------------------------------------------
    def condense(self, question: str, history: Sequence[Message]) -> str:
        """Turn a follow-up ("and what about its renewal?") into a standalone question."""
        if not history:
            return question
        out = self.generator.generate(condense_messages(history, question), max_tokens=64, temperature=0.0)
        text = out.text.strip().splitlines()[0].strip() if out.text.strip() else ""
        return text or question

    def gather(
        self, index: CollectionIndex, question: str, k: int | None, filters: SearchFilters | None
    ) -> tuple[list[SearchHit], list[Evidence]]:
        hits = self.search.search(index, question, k=k or self.settings.answer_k, filters=filters)
        q = self.search.embed_query(question)
        evidence = select_evidence(q, hits, self.search.embedder.embed_documents, n=self.settings.answer_evidence,
                                   window=self.settings.answer_evidence_window)
        return hits, evidence

    def _abstain(self, question: str, standalone: str, reason: str, hits, usage: Usage, timings: dict) -> Answer:
        return Answer(
            answer=self.settings.abstain_message, abstained=True, citations=[], model=self.generator.model_id,
            usage=_usage(usage), timings=timings, question=question, standalone_question=standalone,
            abstain_reason=reason, sources=list(hits),
        )

    def _citation(self, n: int, ev: Evidence, docs: dict | None = None) -> Citation:
        """`docs` caches documents by id: several citations often quote the same document,
        and each load brings its whole text."""
        docs = {} if docs is None else docs
        doc = docs.get(ev.hit.document_id) or docs.setdefault(ev.hit.document_id, self.store.get_document(ev.hit.document_id))
        page = doc.page_of(ev.char_start)
        p_start, p_end = doc.page_span(page)
        start, end = max(ev.char_start, p_start), min(ev.char_end, p_end)  # the page holds the quote
        return Citation(n, ev.hit.document_id, ev.hit.document_name, page, start, end, (doc.text or "")[start:end])

    def _verified(self, sentence: str, evidence: Sequence[Evidence]) -> tuple[list[int], int]:
        """The sources that support one sentence, and how many of its markers did not.
        An uncited sentence is attributed to evidence that clearly supports it."""
        threshold = self.settings.citation_min_support
        numbers = list(dict.fromkeys(cited_numbers(sentence)))
        valid = [n for n in numbers if 1 <= n <= len(evidence) and support(sentence, evidence[n - 1].text) >= threshold]
        lost = len(numbers) - len(valid)
        if not numbers:
            scored = sorted(((support(sentence, ev.text), i + 1) for i, ev in enumerate(evidence)), reverse=True)
            if scored and scored[0][0] >= max(threshold, 0.6):
                valid = [scored[0][1]]
        return valid, lost

    def ground(self, text: str, evidence: Sequence[Evidence], docs: dict | None = None) -> tuple[str, list[Citation], int, int]:
        """The model's text rewritten so that every claim carries its verified markers after
        it (see Grounding). Returns (text, citations, dropped markers, dropped sentences);
        the text has no claim unless it has a citation."""
        g = Grounding(self, evidence)
        for sentence in split_sentences(text):
            g.add(sentence)
        g.close()
        return g.text, g.citations(docs), g.dropped, g.unsupported

    def excerpt_for(self, body: str, first: Citation, evidence: Sequence[Evidence], docs: dict | None = None) -> Excerpt | None:
        """The first cited passage, quoted verbatim with the sentences after it in its chunk;
        its citation spans the whole quote (clipped to its page, as every citation is).
        None when the answer already says it word for word."""
        passage = excerpt(evidence[first.source - 1], self.settings.answer_excerpt_sentences)
        quote = self._citation(first.source, passage, docs)
        text = " ".join(quote.quote.split())
        if not text or text in " ".join(strip_citations(body).split()):
            return None
        return Excerpt(text, quote)

    # -- the use case ----------------------------------------------------------------------
    def prepare(
        self, index: CollectionIndex, question: str, k: int | None = None,
        history: Sequence[Message] = (), filters: SearchFilters | None = None,
    ) -> tuple[str, list[SearchHit], list[Evidence], dict]:
        if not question.strip():
            raise ValueError("question is empty")
        t0 = time.perf_counter()
        standalone = self.condense(question, history)
        t1 = time.perf_counter()
        hits, evidence = self.gather(index, standalone, k, filters)
        timings = {"condense": t1 - t0, "retrieve": time.perf_counter() - t1}
        return standalone, hits, evidence, timings

    def weak(self, evidence: Sequence[Evidence]) -> str | None:
        best = evidence[0].score if evidence else 0.0
        if best < self.settings.abstain_min_similarity:
            return f"retrieval: best evidence similarity {best:.2f} < {self.settings.abstain_min_similarity}"
        return None

    def finish(self, question: str, standalone: str, hits, evidence, text: str, usage: Usage, timings: dict,
               grounding: Grounding | None = None) -> Answer:
        """The checked Answer from the model's text (`grounding`: the check a stream already ran)."""
        draft = text.strip()
        if grounding is None:
            grounding = Grounding(self, evidence)
            for sentence in split_sentences(draft):
                grounding.add(sentence)
        grounding.close()
        if grounding.refused:
            out = self._abstain(question, standalone, "model: the evidence does not contain the answer", hits, usage, timings)
            out.draft = draft
            return out
        docs: dict = {}  # documents the citations quote, loaded once for the check and the excerpt
        body, citations = grounding.text, grounding.citations(docs)
        dropped, unsupported = grounding.dropped, grounding.unsupported
        extractive, quoted = False, None
        if not citations:
            # Nothing the model wrote is backed by its evidence (or it wrote nothing usable).
            if self.settings.answer_unverified == "abstain":
                out = self._abstain(question, standalone, "check: no sentence of the model's answer is supported by the evidence",
                                    hits, usage, timings)
                out.draft, out.unsupported_citations, out.unsupported_sentences = draft, dropped, unsupported
                return out
            body = " ".join(cite(s, [1]) for s in split_sentences(" ".join(evidence[0].text.split())))
            citations, extractive = [self._citation(1, evidence[0], docs)], True
        elif self.settings.answer_excerpt_sentences > 0:
            quoted = self.excerpt_for(body, citations[0], evidence, docs)
        return Answer(
            answer=body, abstained=False, citations=citations, model=self.generator.model_id, usage=_usage(usage),
            timings=timings, question=question, standalone_question=standalone, unsupported_citations=dropped,
            extractive=extractive, sources=list(hits), excerpt=quoted, draft=draft, unsupported_sentences=unsupported,
        )

    def answer(
        self, index: CollectionIndex, question: str, k: int | None = None,
        history: Sequence[Message] = (), filters: SearchFilters | None = None,
    ) -> Answer:
        t0 = time.perf_counter()
        standalone, hits, evidence, timings = self.prepare(index, question, k, history, filters)
        reason = self.weak(evidence)
        if reason:
            timings["total"] = time.perf_counter() - t0
            return self._abstain(question, standalone, reason, hits, Usage(), timings)
        messages = answer_messages(standalone, [ev.text for ev in evidence])
        completion = self.generator.generate(messages, max_tokens=self.settings.answer_max_tokens)
        timings.update(generate=completion.timings.get("total", 0.0), total=time.perf_counter() - t0)
        return self.finish(question, standalone, hits, evidence, completion.text, completion.usage, timings)

    def stream(
        self, index: CollectionIndex, question: str, k: int | None = None,
        history: Sequence[Message] = (), filters: SearchFilters | None = None, cancel: threading.Event | None = None,
    ) -> Iterator[str | Answer]:
        """The checked answer in pieces as its sentences are verified, then the Answer last.
        The pieces join to exactly `Answer.display_text()`: nothing unchecked is ever sent.
        Closing the iterator, or setting `cancel`, stops the model (the next caller gets it)."""
        t0 = time.perf_counter()
        standalone, hits, evidence, timings = self.prepare(index, question, k, history, filters)
        reason = self.weak(evidence)
        if reason:
            timings["total"] = time.perf_counter() - t0
            out = self._abstain(question, standalone, reason, hits, Usage(), timings)
            yield out.display_text()
            yield out
            return
        messages = answer_messages(standalone, [ev.text for ev in evidence])
        grounding = Grounding(self, evidence)
        draft, checked, sent = "", 0, ""
        completion = None
        first_piece = None
        with closing(self.generator.stream(messages, max_tokens=self.settings.answer_max_tokens, cancel=cancel)) as pieces:
            for item in pieces:
                if isinstance(item, Completion):
                    completion = item
                    continue
                draft += item
                settled = settled_sentences(draft)
                for sentence in settled[checked:]:
                    piece = grounding.add(sentence)
                    if piece:
                        first_piece = first_piece or time.perf_counter() - t0
                        sent += piece
                        yield piece
                checked = len(settled)
        for sentence in split_sentences(draft)[checked:]:
            grounding.add(sentence)
        usage = completion.usage if completion else Usage()
        timings.update(
            first_token=(completion.timings.get("first_token", 0.0) if completion else 0.0),
            first_checked=first_piece or time.perf_counter() - t0,
            generate=(completion.timings.get("total", 0.0) if completion else 0.0),
            total=time.perf_counter() - t0,
        )
        out = self.finish(question, standalone, hits, evidence, draft, usage, timings, grounding)
        whole = out.display_text()
        # By construction the pieces sent are the start of the checked answer.
        if not whole.startswith(sent):  # pragma: no cover - a bug; the final Answer stays the truth
            log.error("streamed pieces are not the checked answer", extra={"sent": sent[:200], "answer": whole[:200]})
        elif whole[len(sent):]:
            yield whole[len(sent):]
        yield out


def _usage(u: Usage) -> dict:
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens}
