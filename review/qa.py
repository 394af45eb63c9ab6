"""Contract questions answered from extracted key terms ("extraction, then answer").

On CUAD, the rule-based extractor is far more accurate on governing law, dates, renewal,
notice and parties than the 0.5B default LLM reading retrieved text (see
docs/benchmarks.md), and its answer cites the exact span it was read from. So when a
question about one contract asks for one of those terms, this path answers it; every
other question goes to the generator.
"""
from __future__ import annotations

import re

from generation.answer import Answer, Citation
from generation.citations import cite, split_sentences
from review.terms import Term, extract_terms

INTENTS: list[tuple[str, re.Pattern]] = [
    ("notice_period_to_terminate_renewal", re.compile(r"notice.*(renew|extension)|(renew|extension).*notice", re.I)),
    ("renewal_term", re.compile(r"renew(al)?\s+term|(how\s+long|length).*renew|renew.*(how\s+long|length|period)|auto(matically)?[-\s]renew", re.I)),
    ("governing_law", re.compile(r"govern(s|ing)?\b.*\blaw|law\b.*\bgovern|which\s+(state|country|jurisdiction)('s)?\s+law|applicable\s+law|choice\s+of\s+law", re.I)),
    ("expiration_date", re.compile(r"expir|(when|what\s+date).*(end|terminate)s?\b.*term|initial\s+term.*end", re.I)),
    ("effective_date", re.compile(r"effective\s+date|when.*(take|takes|come|comes)\s+(into\s+)?effect|when.*become\s+effective", re.I)),
    ("agreement_date", re.compile(r"(date\s+of|dated|when\s+was).*(agreement|contract)|agreement\s+date|(agreement|contract).*(dated|signed)", re.I)),
    # who the parties are, not any question naming a party ("share with third parties",
    # "may either party assign", "which party pays")
    ("parties", re.compile(
        r"\b(who|which|what)\s+(are|were)\s+(the\s+)?(contracting\s+|signing\s+)?parties\b(?!['’])"
        r"|\b(who|which|what)\s+parties\s+(signed|entered|executed|made)\b|\bparties\s+(to|of)\s+(this|the)\s+(agreement|contract)\b"
        r"|\b(name|list|identify)\s+(all\s+)?(of\s+)?the\s+parties\b|\bbetween\s+whom\b|\bwho\s+is\s+(this|the)\s+(agreement|contract)\s+between\b"
        r"|who\s+(signed|is\s+the\s+(supplier|customer|licensor|licensee|vendor|buyer|seller|franchisor|franchisee|distributor))\b", re.I)),
    ("liability_cap", re.compile(r"(cap|limit)\w*\s+(on|of)\s+liability|liability\s+(cap|limit)|maximum\s+liability", re.I)),
]

LABEL = {
    "governing_law": "governing law", "agreement_date": "agreement date", "effective_date": "effective date",
    "expiration_date": "expiration date", "renewal_term": "renewal term", "notice_period_to_terminate_renewal":
    "notice period to stop renewal", "parties": "parties", "liability_cap": "liability cap",
}


def term_intent(question: str) -> str | None:
    for name, pattern in INTENTS:
        if pattern.search(question):
            return name
    return None


# The check reads an answer sentence by sentence (generation.citations.split_sentences): a
# ". " followed by a capital ends one, and so does a line break. Inside a term's value both
# are something else: initials and abbreviations in a party's name ("R. C. Boyd", "ARCA
# U.S. Treasury Fund", "Farids & Co. LLC"), a clause's text broken over PDF lines. Written
# as they stand, the key-term sentence came out as several sentences, the marker on the
# last one only (28 of 2,388 CUAD dev answers). So a value is one claim: its line breaks
# read as spaces, and the space after its . ! ? is a no-break space (as typesetting puts
# after "Dr." and initials), which reads the same and is no sentence end.
_INNER_END = re.compile(r"(?<=[.!?]) (?=\S)")


def _one_claim(value) -> str:
    return _INNER_END.sub("\u00a0", " ".join(str(value).split()))


def _marked(sentence: str) -> str:
    """The sentence with its marker, and every sentence the check would read in it marked:
    should a value still split (a splitter that changed), no piece is left without one."""
    pieces = split_sentences(sentence)
    return cite(sentence, [1]) if len(pieces) <= 1 else " ".join(cite(p, [1]) for p in pieces)


def _sentence(name: str, term: Term) -> str:
    v = term.value
    if name == "governing_law":
        return f"The agreement is governed by the law of {_one_claim(v)}."
    if name in ("agreement_date", "effective_date", "expiration_date"):
        if v == "perpetual":
            return "The agreement has no fixed expiration date; it continues perpetually."
        extra = f" ({_one_claim(term.extra['computed'])})" if term.extra.get("computed") else ""
        return f"The {LABEL[name]} is {_one_claim(v)}{extra}."
    if name == "renewal_term":
        return f"Each renewal term is {_one_claim(term.extra.get('duration', f'{v} days'))} ({v} days)."
    if name == "notice_period_to_terminate_renewal":
        return f"Notice to stop renewal must be given {_one_claim(term.text)} ({v} days) in advance."
    if name == "parties":
        return "The parties are " + "; ".join(map(_one_claim, v)) + "."
    if name == "liability_cap":
        return "Liability is capped at " + _one_claim(v.get("amount") or v.get("formula") or "the amount stated in the clause") + "."
    return _one_claim(v)


# A document is read as a contract when the extractor finds at least this many of these.
_CONTRACT_SIGNS = ("parties", "governing_law", "agreement_date", "effective_date", "expiration_date", "renewal_term")


def looks_like_contract(terms: dict) -> bool:
    return sum(terms.get(k) is not None for k in _CONTRACT_SIGNS) >= 2


def answer_from_terms(question: str, document, model_id: str = "rules:review.terms", require_contract: bool = False) -> Answer | None:
    """An Answer for a key-term question about `document` (a core.models.Document), or
    None when the question is not about a key term. With require_contract (the document
    was not named by the user, it is just the only one in its collection), a document
    that does not read as a contract gets None too, so a manual's "when does the warranty
    expire" still goes to the generator."""
    name = term_intent(question)
    if name is None:
        return None
    terms = extract_terms(document.text or "")
    if require_contract and not looks_like_contract(terms):
        return None
    term = terms[name]
    if term is None:
        return Answer(
            answer=f"The contract does not state its {LABEL[name]}.", abstained=True, citations=[], model=model_id,
            usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, timings={},
            question=question, standalone_question=question, abstain_reason=f"key term '{name}' not found in the document",
        )
    page = document.page_of(term.char_start)
    p_start, p_end = document.page_span(page)
    start, end = max(term.char_start, p_start), min(term.char_end, p_end)
    quote = document.text[start:end]
    return Answer(
        answer=_marked(_sentence(name, term)), abstained=False,
        citations=[Citation(1, document.id, document.name, page, start, end, quote)], model=model_id,
        usage={"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, timings={},
        question=question, standalone_question=question,
    )
