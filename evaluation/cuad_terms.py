"""Key-term correctness on CUAD, with the `<Category>-Answer` columns as gold (shared by
`bench/cuad_terms.py` and the `cuad` evaluation suite).

Scoring: governing law = same jurisdiction (one name contained in the other, e.g.
"England" vs "England and Wales"); dates = same ISO date (gold M/D/YYYY; partial gold
dates like []/[]/2016 compare the known parts); renewal term and notice period = same
number of days; expiration "perpetual" must be predicted as perpetual; parties = token
overlap (every gold party matched by a predicted name with token-F1 >= 0.5). An empty
gold value counts as correct only when nothing is predicted (the contract does not state it).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from review.dates import find_durations

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


def _gold_date(v: str):
    m = re.fullmatch(r"\s*(\[\]|\d{1,2})/(\[\]|\d{1,2})/(\[\]|\d{4})\s*", v)
    if not m:
        return None
    return tuple(None if x == "[]" else int(x) for x in m.groups())  # (month, day, year)


def _date_ok(gold: str, pred) -> bool:
    g = _gold_date(gold)
    if g is None:
        return pred is None
    if pred is None or pred.value == "perpetual":
        return False
    parts = [int(x) for x in pred.value.split("-")] + [None, None]
    y, mth, d = parts[0], parts[1], parts[2]  # partial dates ("2006", "2006-11") leave parts unknown
    return all(a is None or a == b for a, b in zip(g, (mth, d, y)))


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
        out[key] = _date_ok(gold, terms.get(key)) if gold else terms.get(key) is None
    gold = row.get("Expiration Date-Answer", "").strip()
    pred = terms.get("expiration_date")
    if gold.lower() == "perpetual":
        out["expiration_date"] = pred is not None and pred.value == "perpetual"
    elif gold:
        out["expiration_date"] = _date_ok(gold, pred)
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
