"""Key-term correctness on CUAD, with the `<Category>-Answer` columns as gold (shared by
`bench/cuad_terms.py` and the `cuad` evaluation suite).

Scoring: governing law = same jurisdiction (one name contained in the other, e.g.
"England" vs "England and Wales"); dates = same ISO date (gold M/D/YYYY; partial gold
dates like []/[]/2016 compare the known parts, "a; b" lists alternatives, a date left
wholly blank in the contract ("[]/[]/[]", "[]/[]/20[]") wants nothing predicted); renewal term and notice period = same
number of days; expiration "perpetual" must be predicted as perpetual; parties = token
overlap (every gold party matched by a predicted name with token-F1 >= 0.5). An empty
gold value counts as correct only when nothing is predicted (the contract does not state it).

`score_answer` scores a free-text *answer* to one of the six key-term questions of
`QUESTIONS` against the same gold columns (the product's key-term answers in the `cuad`
suite; the LLM and extractive baselines in `bench/qa.py`): the jurisdiction, dates and
days are read out of the text, parties by token coverage, and an unstated term must be
answered by abstaining.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from review.dates import find_dates, find_durations

# term key -> the CSV column holding its gold answer
TERM_COLUMNS = {
    "governing_law": "Governing Law-Answer",
    "agreement_date": "Agreement Date-Answer",
    "effective_date": "Effective Date-Answer",
    "expiration_date": "Expiration Date-Answer",
    "renewal_term": "Renewal Term-Answer",
    "notice_period_to_terminate_renewal": "Notice Period to Terminate Renewal-Answer",
    "parties": "Parties-Answer",
}

# The key-term questions a user asks about one contract (term key -> question); the gold
# answer is the term's TERM_COLUMNS column. `docintel ask --document-id` answers each from
# the extracted term (review.qa.answer_from_terms).
QUESTIONS = {
    "governing_law": "Which state's or country's law governs this agreement?",
    "agreement_date": "What is the date of this agreement?",
    "expiration_date": "When does the initial term of this agreement expire?",
    "renewal_term": "How long is each renewal term of this agreement?",
    "notice_period_to_terminate_renewal": "How much notice is required to terminate renewal of this agreement?",
    "parties": "Who are the parties to this agreement?",
}


_BLANK = r"\[\s*\]"
_GOLD_DATE = re.compile(rf"\s*({_BLANK}|\d{{1,2}})/({_BLANK}|\d{{1,2}})/((?:\d|{_BLANK}){{1,4}})\s*")


def _gold_date(v: str):
    """(month, day, year prefix) of one gold date; None parts were left blank in the
    contract ("[]/[]/2016"), and a year typed as "200[]" keeps its known digits ("200")."""
    m = _GOLD_DATE.fullmatch(v)
    if not m:
        return None
    month, day, year = m.groups()
    digits = re.match(r"\d*", year).group()
    return (None if "[" in month else int(month), None if "[" in day else int(day), digits or None)


def date_ok(gold: str, pred) -> bool:
    """A gold value may list alternatives ("07/31/2000; 07/[]/2000"); one match is enough. A
    gold date with nothing filled in ("[]/[]/[]", "[]/[]/20[]") means the contract leaves the
    date blank: right only when nothing is predicted."""
    alternatives = [g for g in (_gold_date(x) for x in gold.split(";")) if g is not None]
    if not alternatives:
        return pred is None
    for month, day, year in alternatives:
        if month is None and day is None and (year is None or len(year) < 4):
            if pred is None:
                return True
            continue
        if pred is None or pred.value == "perpetual":
            continue
        parts = pred.value.split("-") + [None, None]
        y, mth, d = parts[0], parts[1], parts[2]  # partial predictions ("2006", "2006-11") leave parts unknown
        if (month is None or (mth is not None and int(mth) == month)) and (day is None or (d is not None and int(d) == day)) \
                and (year is None or y.startswith(year)):
            return True
    return False


def _tokens(s: str) -> set[str]:
    stop = {"inc", "llc", "ltd", "corp", "corporation", "company", "co", "the", "and", "limited", "a"}
    return {t for t in re.findall(r"[a-z0-9]+", s.lower()) if t not in stop}


def _f1(a: set, b: set) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return 0.0 if inter == 0 else 2 * inter / (len(a) + len(b))


def score(row: Mapping[str, str], terms: Mapping[str, Any]) -> dict[str, bool | None]:
    """Per key term: correct or not (None: not scored, e.g. no gold parties).

    `row` holds the `<Category>-Answer` columns; `terms` maps term keys to objects with a
    `.value` (review.terms.Term) or None."""
    out: dict[str, bool | None] = {}
    law = row.get("Governing Law-Answer", "").strip()
    pred = terms.get("governing_law")
    if law:
        out["governing_law"] = pred is not None and (pred.value.lower() in law.lower() or law.lower() in pred.value.lower())
    else:
        out["governing_law"] = pred is None
    for key, col in (("agreement_date", "Agreement Date-Answer"), ("effective_date", "Effective Date-Answer")):
        gold = row.get(col, "").strip()
        out[key] = date_ok(gold, terms.get(key)) if gold else terms.get(key) is None
    gold = row.get("Expiration Date-Answer", "").strip()
    pred = terms.get("expiration_date")
    if "perpetual" in gold.lower() and pred is not None and pred.value == "perpetual":
        out["expiration_date"] = True
    elif gold.lower() == "perpetual":
        out["expiration_date"] = False
    elif gold:
        out["expiration_date"] = date_ok(gold, pred)
    else:
        out["expiration_date"] = pred is None
    for key, col in (("renewal_term", "Renewal Term-Answer"), ("notice_period_to_terminate_renewal", "Notice Period to Terminate Renewal-Answer")):
        gold = row.get(col, "").strip()
        pred = terms.get(key)
        if not gold:
            out[key] = pred is None
            continue
        if gold.lower() == "perpetual":
            out[key] = False
            continue
        days = [d.days for d in find_durations(gold.replace("successive", ""))]
        out[key] = pred is not None and bool(days) and abs(pred.value - days[0]) <= 2
    gold_parties = [p.split("(")[0].strip() for p in row.get("Parties-Answer", "").split(";") if p.strip()]
    pred = terms.get("parties")
    if gold_parties:
        names = pred.value if pred else []
        out["parties"] = all(any(_f1(_tokens(g), _tokens(n)) >= 0.5 for n in names) for g in gold_parties if _tokens(g))
    return out


# -- free-text answers to the key-term questions ------------------------------------------------
_PERPETUAL = re.compile(r"perpetu|indefinite", re.IGNORECASE)


def _answer_dates(answer: str) -> list[str]:
    """Dates an answer states: written dates and ISO values, partial ones ("2006", "2006-11") included."""
    isos = [d.iso for d in find_dates(answer)]
    isos += [m.group() for m in re.finditer(r"\b(?:19|20)\d\d(?:-\d\d){0,2}\b", answer)]
    return isos


def _date_in_answer(gold: str, iso: str | None) -> bool:
    from review.terms import Term

    return bool(iso) and iso != "perpetual" and date_ok(gold, Term(iso, "", 0, 0))


def _answer_tokens(s: str) -> set[str]:
    stop = {"inc", "llc", "ltd", "corp", "corporation", "company", "co", "the", "and", "limited", "a", "of"}
    return {t for t in re.findall(r"[a-z0-9]+", s.lower()) if t not in stop}


def gold_is_empty(term: str, gold: str) -> bool:
    """The contract does not state the term (a date left blank in a template counts)."""
    if term in ("agreement_date", "expiration_date") and gold.strip() and gold.strip().lower() != "perpetual":
        return date_ok(gold, None)
    return not gold.strip() or gold.strip().lower() in {"no", "[]/[]/[]"}


def score_answer(term: str, gold: str, answer: str, abstained: bool) -> bool:
    """Is a free-text answer to the `term` question of QUESTIONS right? `gold` is the
    term's TERM_COLUMNS cell; a term the contract does not state must be answered by abstaining."""
    from review.terms import normalise_jurisdiction

    if term not in QUESTIONS:
        raise ValueError(f"no key-term question for {term!r}")
    if gold_is_empty(term, gold):
        return abstained
    if abstained:
        return False
    gold = gold.strip()
    if term == "governing_law":
        pred = normalise_jurisdiction(answer)
        return pred is not None and (pred.lower() in gold.lower() or gold.lower() in pred.lower())
    if term in ("agreement_date", "expiration_date"):
        if "perpetual" in gold.lower() and _PERPETUAL.search(answer):
            return True  # "09/05/2019; perpetual" lists both, as `score` reads it
        if gold.lower() == "perpetual":
            return False
        return any(_date_in_answer(gold, iso) for iso in _answer_dates(answer))
    if term in ("renewal_term", "notice_period_to_terminate_renewal"):
        if gold.lower() == "perpetual":
            return bool(_PERPETUAL.search(answer))
        gold_days = [d.days for d in find_durations(gold.replace("successive", ""))]
        return bool(gold_days) and any(abs(d.days - gold_days[0]) <= 2 for d in find_durations(answer))
    # parties: every gold name is at least half covered by the answer's words
    names = [p.split("(")[0] for p in gold.split(";") if p.strip()]
    have = _answer_tokens(answer)
    need = [_answer_tokens(n) for n in names if _answer_tokens(n)]
    return bool(need) and all(len(t & have) / len(t) >= 0.5 for t in need)
