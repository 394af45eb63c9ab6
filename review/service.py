"""Contract review: file -> text with pages -> clauses -> key terms -> playbook findings."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.types import LoadedDocument
from ingestion.loaders import load_bytes
from review.playbook import Finding, Playbook, evaluate, load_playbook
from review.terms import Term, extract_terms


@dataclass
class Review:
    document: dict[str, Any]
    clauses: list[dict[str, Any]]  # at or above the operating point; what the playbook sees
    terms: dict[str, dict | None]
    findings: list[Finding]
    model: dict[str, Any]
    timings: dict[str, float]
    playbook: str = ""
    text: str = field(default="", repr=False)
    also_check: list[dict[str, Any]] = field(default_factory=list)  # candidates below the operating point
    operating_point: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "clauses": self.clauses,
            "also_check": self.also_check,
            "operating_point": self.operating_point,
            "terms": self.terms,
            "findings": [f.to_dict() for f in self.findings],
            "playbook": self.playbook,
            "model": self.model,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _term_dict(term: Term | None, doc: LoadedDocument) -> dict | None:
    if term is None:
        return None
    out = term.to_dict()
    out["page"] = doc.page_of(term.char_start)
    return out


# A key term found by an exact drafting pattern is evidence of its clause category; the
# classifier can miss it (e.g. a short contract), the playbook should not.
TERM_CATEGORY = {
    "governing_law": "Governing Law", "liability_cap": "Cap on Liability", "renewal_term": "Renewal Term",
    "notice_period_to_terminate_renewal": "Notice Period to Terminate Renewal", "agreement_date": "Agreement Date",
    "effective_date": "Effective Date", "expiration_date": "Expiration Date", "parties": "Parties",
}
RULE_CONFIDENCE = 0.9


def _clauses_from_terms(terms: dict[str, Term | None], clauses: list[dict], doc: LoadedDocument) -> list[dict]:
    out = []
    for key, category in TERM_CATEGORY.items():
        term = terms.get(key)
        if term is None or term.extra.get("inferred_from"):
            continue
        overlapping = [c for c in clauses if c["category"] == category and c["char_start"] < term.char_end and term.char_start < c["char_end"]]
        if overlapping:
            for c in overlapping:
                c["confidence"] = max(c["confidence"], RULE_CONFIDENCE)
            continue
        out.append({
            "category": category, "text": term.text, "page": doc.page_of(term.char_start),
            "char_start": term.char_start, "char_end": term.char_end, "confidence": RULE_CONFIDENCE, "source": "rule",
        })
    return out


def model_info() -> dict[str, Any]:
    """Name, training date and cross-validated metrics of the shipped clause model."""
    import json

    from review.classifier import MODEL_DIR, MODEL_JSON

    try:
        meta = json.loads((MODEL_DIR / MODEL_JSON).read_text())
    except (OSError, ValueError):
        return {"name": "unknown"}
    cv = meta.get("cv") or {}
    return {
        "name": meta.get("name"), "trained": meta.get("trained"), "training_contracts": meta.get("training_contracts"),
        "cv_pooled_aupr": cv.get("aupr") if isinstance(cv, dict) else None, "attribution": meta.get("attribution"),
    }


def review_document(doc: LoadedDocument, name: str, playbook: Playbook | None = None, classifier=None,
                    recall: float | None = None) -> Review:
    """`recall`: the held-out recall the clauses should reach (e.g. 0.8; lower-confidence
    candidates move from "also check" into the clauses); None: the default line."""
    from review.clauses import (
        CANDIDATE_FLOOR, CANDIDATE_MAX_IOU, CANDIDATE_TOP_K, detect_clauses, operating_point, suppresses,
    )

    point = operating_point(recall, classifier)  # a bad recall fails before the slow part
    t0 = time.perf_counter()
    matches = detect_clauses(doc.text, classifier=classifier, threshold=CANDIDATE_FLOOR, top_k=CANDIDATE_TOP_K,
                             max_iou=CANDIDATE_MAX_IOU)
    t1 = time.perf_counter()
    candidates = [
        {
            "category": m.category, "text": m.text, "page": doc.page_of(m.char_start),
            "char_start": m.char_start, "char_end": m.char_end, "confidence": round(float(m.confidence), 4),
        }
        for m in matches
    ]
    # Above the operating point a span overlapping a more confident one of its category
    # (the paragraph around a flagged sentence) is not shown twice, nor are the same words
    # found again elsewhere (the word "Agreement" at each use, as a Document Name): they
    # join "also check". Every candidate stays in one of the two lists, so the JSON keeps
    # the whole curve.
    clauses, also_check = [], []
    shown: dict[str, list[tuple[int, int]]] = {}
    shown_words: dict[str, set[str]] = {}
    for c in sorted(candidates, key=lambda c: -c["confidence"]):
        spans = shown.setdefault(c["category"], [])
        said = shown_words.setdefault(c["category"], set())
        words = " ".join(c["text"].lower().split())
        if c["confidence"] >= point.threshold and \
                not any(suppresses(c["char_start"], c["char_end"], s, e) for s, e in spans):
            # a place said already in the same words still covers the passages around it
            spans.append((c["char_start"], c["char_end"]))
            if words not in said:
                said.add(words)
                clauses.append(c)
                continue
        also_check.append(c)
    position = lambda c: (c["char_start"], -c["confidence"], c["category"])
    clauses.sort(key=position)
    also_check.sort(key=position)
    raw_terms = extract_terms(doc.text)
    terms = {k: _term_dict(v, doc) for k, v in raw_terms.items()}
    clauses.extend(_clauses_from_terms(raw_terms, clauses, doc))
    t2 = time.perf_counter()
    playbook = playbook or load_playbook()
    findings = evaluate(playbook, clauses, terms)
    t3 = time.perf_counter()
    return Review(
        document={"name": name, "pages": len(doc.pages), "mime": doc.mime, "chars": len(doc.text)},
        clauses=clauses, terms=terms, findings=findings, model=model_info(),
        timings={"clauses": t1 - t0, "terms": t2 - t1, "playbook": t3 - t2},
        playbook=playbook.name, text=doc.text, also_check=also_check, operating_point=point.to_dict(),
    )


def add_explanations(review: Review, generator: Any, min_support: float) -> None:
    """LLM explanations of the high-severity findings, each checked against its clause text."""
    from review.explain import explain_findings

    stats = explain_findings(review.findings, generator, min_support)
    review.timings["explanations"] = stats.pop("seconds")
    review.model = {**review.model, "explanations": {**stats, "llm": getattr(generator, "model_id", None)}}


def review_file(path: str | Path, playbook_path: str | Path | None = None, generator: Any = None,
                min_support: float = 0.5, name: str | None = None, recall: float | None = None) -> Review:
    """Review a PDF, DOCX or TXT contract (`name`: its document name, default the file's).
    Raises LoaderError/PlaybookError with a clear message.

    With a generator, high-severity findings get plain-language explanations."""
    path = Path(path)
    name = name or path.name
    playbook = load_playbook(playbook_path)  # validate before the slow part
    if recall is not None:
        from review.clauses import operating_point

        operating_point(recall)
    t0 = time.perf_counter()
    doc = load_bytes(path.read_bytes(), name)
    t_load = time.perf_counter() - t0
    review = review_document(doc, name, playbook, recall=recall)
    if generator is not None:
        add_explanations(review, generator, min_support)
    review.timings = {"load": t_load, **review.timings, "total": time.perf_counter() - t0}
    return review
