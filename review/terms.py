"""Key terms of a contract, normalised, each with the span it came from.

Rules, not learning: the preamble and the governing-law sentence follow a handful of
drafting patterns, and a rule that finds the pattern is exact about the span.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from review.dates import add_days, add_years, find_dates, find_durations

PREAMBLE_CHARS = 4000
_SENT_END = re.compile(r"[.!?](?=\s+[A-Z(\"“]|\s*\n|$)|\n\s*\n")


def sentence_around(text: str, start: int, end: int, limit: int = 900) -> tuple[int, int]:
    """The sentence holding text[start:end]; numbered headings like "6.1" do not end a sentence."""
    s = 0
    for m in _SENT_END.finditer(text, max(0, start - limit), start):
        s = m.end()
    s = max(s, start - limit)
    m = _SENT_END.search(text, end)
    e = m.end() if m and m.end() - end < limit else min(len(text), end + limit)
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


@dataclass
class Term:
    value: Any  # normalised: ISO date, days, jurisdiction name, list of party names, text
    text: str  # the source text the value was read from
    char_start: int
    char_end: int
    page: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["extra"]:
            d.pop("extra")
        return d


# -- governing law -------------------------------------------------------------------------
US_STATES = [
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
    "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
    "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska",
    "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio",
    "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas",
    "Utah", "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming", "District of Columbia",
]
CANADA = ["Ontario", "British Columbia", "Alberta", "Quebec", "Manitoba", "Nova Scotia", "Saskatchewan", "New Brunswick"]
COUNTRIES = {
    "england and wales": "England and Wales", "england": "England", "united kingdom": "United Kingdom",
    "scotland": "Scotland", "ireland": "Ireland", "germany": "Germany", "france": "France",
    "switzerland": "Switzerland", "the netherlands": "Netherlands", "netherlands": "Netherlands",
    "singapore": "Singapore", "hong kong": "Hong Kong", "israel": "Israel", "japan": "Japan", "india": "India",
    "people's republic of china": "People's Republic of China", "prc": "People's Republic of China",
    "china": "People's Republic of China", "sweden": "Sweden", "italy": "Italy", "spain": "Spain",
    "australia": "Australia", "korea": "Korea", "canada": "Canada", "united states": "United States",
    "cayman islands": "Cayman Islands", "bermuda": "Bermuda", "hungary": "Hungary", "denmark": "Denmark",
    "norway": "Norway", "finland": "Finland", "belgium": "Belgium", "austria": "Austria", "mexico": "Mexico",
    "brazil": "Brazil", "taiwan": "Taiwan", "luxembourg": "Luxembourg",
}
_JURISDICTIONS = sorted(
    [(s.lower(), s) for s in US_STATES] + [(p.lower(), f"{p}, Canada") for p in CANADA] + list(COUNTRIES.items()),
    key=lambda kv: len(kv[0]), reverse=True,
)
_JURIS_RE = re.compile(r"\b(" + "|".join(re.escape(k) for k, _ in _JURISDICTIONS) + r")\b", re.IGNORECASE)
_JURIS_NAME = dict(_JURISDICTIONS)
_LAW_CUE = re.compile(
    r"(governed\s+(?:by|under|in\s+accordance\s+with)|construed\s+(?:in\s+accordance\s+with|under|by)"
    r"|governing\s+law|laws?\s+of\s+the\s+state\s+of|subject\s+to\s+the\s+laws\s+of)",
    re.IGNORECASE,
)


def normalise_jurisdiction(text: str) -> str | None:
    m = _JURIS_RE.search(text)
    return _JURIS_NAME[m.group(1).lower()] if m else None


def governing_law(text: str) -> Term | None:
    best = None
    for cue in _LAW_CUE.finditer(text):
        window_start = cue.start()
        window = text[window_start : window_start + 300]
        # the jurisdiction right after "laws of" beats one elsewhere in the sentence
        laws_of = re.search(r"laws?\s+(?:of|in)\s+(?:the\s+)?(?:state\s+of\s+|commonwealth\s+of\s+|province\s+of\s+)?", window, re.IGNORECASE)
        search_from = laws_of.end() if laws_of else 0
        m = _JURIS_RE.search(window, search_from) or _JURIS_RE.search(window)
        if not m:
            continue
        name = _JURIS_NAME[m.group(1).lower()]
        s_off, e_off = sentence_around(text, window_start, window_start + m.end())
        strength = 2 if "govern" in cue.group(1).lower() else 1
        cand = (strength, -cue.start(), Term(name, text[s_off:e_off], s_off, e_off))
        if best is None or cand[:2] > best[:2]:
            best = cand
    return best[2] if best else None


# -- dates -----------------------------------------------------------------------------------
_AGREEMENT_CUE = re.compile(r"(dated|made|entered\s+into|executed|as\s+of|effective|this\s+\w+\s+day|day\s+of)", re.IGNORECASE)
_EFFECTIVE_CUE = re.compile(r"effective(?:\s+as\s+of|\s+on|\s+date)?", re.IGNORECASE)


# Filing metadata ("Source: ACME CORP, 10-K, 12/2/2019") is not part of the contract.
_FILING_LINE = re.compile(r"^\s*Source:.*$", re.MULTILINE | re.IGNORECASE)
_STRONG_CUE = re.compile(
    r"(day\s+of|dated(?:\s+as\s+of)?|made\s+(?:and\s+entered\s+into\s+)?(?:as\s+of|on)|entered\s+into\s+(?:as\s+of|on)"
    r"|effective\s+as\s+of|as\s+of|(?:effective|signed|executed|dated|made|entered\s+into)(?:\s+\w+){0,3}?\s+(?:this|on))"
    r"\s*[,:]?\s*(?:the\s+)?$",
    re.IGNORECASE,
)


def contract_dates(text: str, start: int = 0, end: int | None = None):
    masked = _FILING_LINE.sub(lambda m: " " * len(m.group()), text)
    return find_dates(masked[start:end], offset=start)


# A date left blank in the template: "as of ____________, 2006", "this ___ day of November, 2006"
_PARTIAL = re.compile(
    r"(?:day\s+of|as\s+of|dated|effective|made|entered\s+into)\s*(?:this\s+|the\s+)?[_\s\[\]]{3,}(?:day\s+of\s+)?"
    r"(?:(?P<month>january|february|march|april|may|june|july|august|september|october|november|december)[\s_,]*)?"
    r"(?P<year>(?:19|20)\d\d)",
    re.IGNORECASE,
)


def _partial_date(text: str) -> Term | None:
    from review.dates import MONTHS

    m = _PARTIAL.search(text, 0, PREAMBLE_CHARS)
    if not m:
        return None
    value = m.group("year") + (f"-{MONTHS[m.group('month').lower()]:02d}" if m.group("month") else "")
    return Term(value, m.group(), m.start(), m.end(), extra={"partial": True})


def agreement_date(text: str) -> Term | None:
    head_dates = contract_dates(text, 0, PREAMBLE_CHARS)
    # 1. a date right after a dating cue in the preamble ("made as of the 3rd day of ...")
    for d in head_dates:
        if _STRONG_CUE.search(text[max(0, d.char_start - 60) : d.char_start]):
            return Term(d.iso, d.text, d.char_start, d.char_end)
    # 2. a weaker cue nearby in the preamble
    for d in head_dates:
        if _AGREEMENT_CUE.search(text[max(0, d.char_start - 120) : d.char_start]):
            return Term(d.iso, d.text, d.char_start, d.char_end)
    # 3. a strong cue anywhere (undated preambles are often dated at the signatures)
    for d in contract_dates(text, PREAMBLE_CHARS):
        if _STRONG_CUE.search(text[max(0, d.char_start - 60) : d.char_start]):
            return Term(d.iso, d.text, d.char_start, d.char_end)
    if head_dates:
        d = head_dates[0]
        return Term(d.iso, d.text, d.char_start, d.char_end)
    # 4. no full date at all: a dating cue with the day (and maybe month) left blank
    return _partial_date(text)


def effective_date(text: str, agreement: Term | None) -> Term | None:
    for m in _EFFECTIVE_CUE.finditer(text):
        window = text[m.end() : m.end() + 80]
        dates = find_dates(window, offset=m.end())
        if dates and dates[0].char_start - m.end() < 40:
            d = dates[0]
            return Term(d.iso, d.text, d.char_start, d.char_end)
    # Contracts commonly take effect on the date they are dated.
    if agreement is not None:
        return Term(agreement.value, agreement.text, agreement.char_start, agreement.char_end, extra={"inferred_from": "agreement_date"})
    return None


_TERM_CUE = re.compile(
    r"(initial\s+term|term\s+of\s+this\s+agreement|this\s+agreement\s+(?:shall|will)\s+(?:remain|continue|be)\s+in\s+(?:full\s+)?(?:force|effect)"
    r"|shall\s+(?:commence|continue)|expire[sd]?|terminat(?:e|ion)\s+date|period\s+of)",
    re.IGNORECASE,
)
_PERPETUAL = re.compile(r"\b(perpetual(?:ly)?|in\s+perpetuity|indefinite(?:ly)?)\b", re.IGNORECASE)


def expiration_date(text: str, effective: Term | None) -> Term | None:
    for m in _TERM_CUE.finditer(text):
        window_start, window_end = m.start(), min(len(text), m.end() + 250)
        window = text[window_start:window_end]
        dates = [d for d in find_dates(window, offset=window_start) if effective is None or d.iso > effective.value]
        if "expir" in m.group(1).lower() or "until" in window.lower():
            if dates:
                d = dates[0]
                return Term(d.iso, d.text, d.char_start, d.char_end)
        if "term" in m.group(1).lower() or "period" in m.group(1).lower() or "commence" in m.group(1).lower():
            durations = [x for x in find_durations(window, offset=window_start) if x.days >= 180]
            if durations and effective is not None and len(str(effective.value)) == 10:
                d = durations[0]
                years = round(d.days / 365)
                iso = add_years(effective.value, years) if abs(d.days - years * 365) < 5 else add_days(effective.value, d.days)
                return Term(iso, text[m.start() : d.char_end], m.start(), d.char_end, extra={"computed": f"effective date + {d.text}"})
            if dates:
                d = dates[0]
                return Term(d.iso, d.text, d.char_start, d.char_end)
    m = _PERPETUAL.search(text)
    if m:
        return Term("perpetual", m.group(), m.start(), m.end())
    return None


_RENEWAL = re.compile(
    r"(automatic(?:ally)?\s+(?:be\s+)?(?:renew|extend)|renew(?:ed|s)?\s+automatically|successive\s+(?:renewal\s+)?(?:terms?|periods?)"
    r"|additional\s+(?:renewal\s+)?(?:terms?|periods?)\s+of|renewal\s+terms?)",
    re.IGNORECASE,
)


def renewal_term(text: str) -> Term | None:
    for m in _RENEWAL.finditer(text):
        start = max(0, m.start() - 150)
        window = text[start : m.end() + 200]
        durations = [d for d in find_durations(window, offset=start) if d.days >= 28]
        if durations:
            # the renewal length follows its cue ("renews ... for successive one (1) year terms");
            # a duration before the cue is usually the initial term
            after = [x for x in durations if x.char_start >= m.start()]
            d = after[0] if after else min(durations, key=lambda x: abs(x.char_start - m.start()))
            s, e = min(d.char_start, m.start()), max(d.char_end, m.end())
            return Term(d.days, text[s:e], s, e, extra={"duration": d.text})
    return None


_NOTICE = re.compile(r"(notice\s+of\s+(?:non-?renewal|its\s+intent|termination)|not\s+to\s+renew|non-?renewal|written\s+notice)", re.IGNORECASE)


_AT_LEAST = re.compile(r"(at\s+least|not\s+less\s+than|no\s+less\s+than|minimum\s+of|upon|with|giving|gives?)\s*$", re.IGNORECASE)
_AHEAD = re.compile(r"\s*(?:\w+\s+){0,3}?(prior|before|in\s+advance|notice|written\s+notice)", re.IGNORECASE)


def notice_to_terminate_renewal(text: str) -> Term | None:
    for m in re.finditer(r"renew", text, re.IGNORECASE):
        start = max(0, m.start() - 300)
        window = text[start : m.end() + 300]
        if not _NOTICE.search(window):
            continue
        durations = [
            d for d in find_durations(window, offset=start)
            if 1 <= d.days <= 365 and "notice" in (text[max(0, d.char_start - 80) : d.char_start] + text[d.char_end : d.char_end + 60]).lower()
        ]
        # "at least sixty (60) days prior written notice": a notice period reads as a minimum, ahead of something
        strong = [
            d for d in durations
            if _AT_LEAST.search(text[max(0, d.char_start - 30) : d.char_start]) or _AHEAD.match(text[d.char_end : d.char_end + 40])
        ]
        if strong or durations:
            d = (strong or durations)[0]
            return Term(d.days, d.text, d.char_start, d.char_end)
    return None


# -- parties ---------------------------------------------------------------------------------
_SUFFIX = (
    r"(?:Inc\.?|Incorporated|LLC|L\.L\.C\.|Ltd\.?|Limited|Corporation|Corp\.?|Company|Co\.|GmbH|AG|S\.A\.?|"
    r"B\.V\.?|plc|PLC|L\.P\.|LP|LLP|N\.V\.|S\.p\.A\.|Pty\.?\s+Ltd\.?|S\.A\.R\.L\.|SAS|AB|ASA|A/S|Trust|Bank|University)"
)
_ENTITY = re.compile(rf"((?:[A-Z0-9][\w&'\-.]*,?[ \t]+){{0,7}}?{_SUFFIX})(?=[\s,;.)(\"]|$)")
_DEFINED = re.compile(r"\(\s*(?:the\s+|each\s+a\s+|hereinafter\s+(?:referred\s+to\s+as\s+)?)?[\"“']([^\"”']{2,40})[\"”']", re.IGNORECASE)


def parties(text: str) -> Term | None:
    head = text[:PREAMBLE_CHARS]
    names: list[tuple[str, int, int]] = []
    seen = set()
    for m in _ENTITY.finditer(head):
        name = m.group(1).strip(" ,")
        name = re.sub(r"^(?:and|between|by|among|with|this|the)\s+", "", name, flags=re.IGNORECASE).strip()
        key = re.sub(r"\W+", " ", name.lower()).strip()
        if len(name) < 4 or key in seen or key.split()[0] in {"agreement", "the", "this", "such"}:
            continue
        seen.add(key)
        names.append((name, m.start(1) + m.group(1).find(name), m.start(1) + m.group(1).find(name) + len(name)))
        if len(names) >= 4:
            break
    if not names:
        return None
    aliases = []
    for name, s, e in names:
        d = _DEFINED.search(head, e, min(len(head), e + 160))
        aliases.append(d.group(1) if d else None)
    s, e = names[0][1], names[-1][2]
    return Term(
        [n for n, _, _ in names], head[s:e], s, e,
        extra={"aliases": aliases, "spans": [[a, b] for _, a, b in names]},
    )


# -- liability cap ---------------------------------------------------------------------------
_MONEY = re.compile(r"((?:US\s?)?\$\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion|thousand))?|(?:USD|EUR|GBP)\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion))?)", re.IGNORECASE)
_CAP_CUE = re.compile(
    r"(aggregate\s+liability|total\s+liability|liability\s+(?:\w+\s+){0,6}(?:shall\s+not|will\s+not|not\s+to)\s+exceed|in\s+no\s+event\s+shall\s+\w+(?:'s)?\s+(?:aggregate\s+|total\s+)?liability)",
    re.IGNORECASE,
)


def liability_cap(text: str) -> Term | None:
    for m in _CAP_CUE.finditer(text):
        s, e = sentence_around(text, m.start(), m.end())
        sentence = text[s:e]
        if "exceed" not in sentence.lower() and "limited to" not in sentence.lower():
            continue
        money = _MONEY.search(sentence)
        value: dict[str, Any] = {"amount": money.group(1)} if money else {}
        formula = re.search(r"(?:exceed|limited\s+to)\s+(.{5,200}?)(?:[.;]|$)", sentence, re.IGNORECASE | re.DOTALL)
        if formula:
            value["formula"] = " ".join(formula.group(1).split())
        return Term(value, sentence, s, e)
    return None


TERM_NAMES = (
    "parties", "agreement_date", "effective_date", "expiration_date", "renewal_term",
    "notice_period_to_terminate_renewal", "governing_law", "liability_cap",
)


def extract_terms(text: str) -> dict[str, Term | None]:
    agreement = agreement_date(text)
    effective = effective_date(text, agreement)
    return {
        "parties": parties(text),
        "agreement_date": agreement,
        "effective_date": effective,
        "expiration_date": expiration_date(text, effective),
        "renewal_term": renewal_term(text),
        "notice_period_to_terminate_renewal": notice_to_terminate_renewal(text),
        "governing_law": governing_law(text),
        "liability_cap": liability_cap(text),
    }
