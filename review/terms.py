"""Key terms of a contract, normalised, each with the span it came from.

Rules, not learning: the preamble and the governing-law sentence follow a handful of
drafting patterns, and a rule that finds the pattern is exact about the span.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from core.text import CLAUSE
from review.dates import Duration, add_business_days, add_days, add_months, add_years, find_dates, find_durations

PREAMBLE_CHARS = 4000


def sentence_around(text: str, start: int, end: int, limit: int = 900) -> tuple[int, int]:
    """The sentence holding text[start:end]; numbered headings like "6.1" do not end a sentence
    (core.text.CLAUSE)."""
    return CLAUSE.around(text, start, end, limit)


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
_EFFECTIVE_CUE = re.compile(r"effective(?:\s+as\s+of|\s+on|\s+date)?", re.IGNORECASE)

# Filing metadata ("Source: ACME CORP, 10-K, 12/2/2019") is not part of the contract.
_FILING_LINE = re.compile(r"^\s*Source:.*$", re.MULTILINE | re.IGNORECASE)


def _mask_filing_lines(text: str) -> str:
    return _FILING_LINE.sub(lambda m: " " * len(m.group()), text)


def contract_dates(text: str, start: int = 0, end: int | None = None, short_years: bool = False):
    return find_dates(_mask_filing_lines(text)[start:end], offset=start, short_years=short_years)


# The words that date an agreement, right before its date: "is made and entered into as of (the)",
# "dated", "entered into effective", "executed on", "made this", "signed by the parties on".
_MADE_CORE = (
    r"\b(?:dated(?:\s+for\s+reference(?:\s+purposes)?)?|made|entered\s+into|executed|signed|concluded)"
    r"(?:\s*,?\s+and\s+(?:entered\s+into|executed|made|effective|delivered))?"
    r"(?:\s+in\s+(?:duplicate|triplicate|(?:\w+\s+)?(?:counterparts|originals)))?"
    r"(?:\s+by\s+(?:and\s+between\s+)?(?:the|both)\s+parties(?:\s+hereto)?)?"
    r"(?:\s+(?:as\s+(?:of|at)|on|effective(?:\s+as\s+(?:of|at)|\s+on)?|this|at))?"
)
_MADE_CUE = re.compile(_MADE_CORE + r"\s*[,:]?\s*", re.IGNORECASE)
_MADE_CUE_END = re.compile(_MADE_CORE + r"\s*[,:]?\s*(?:the\s+|this\s+)?$", re.IGNORECASE)
# "effective as of": the effective date, which dates the agreement only when nothing says "made"/"dated"
_EFF_CUE = re.compile(
    r"(?:\bEffective\s+Date\s*:|\bEffective\s+Date\b[^.;:]{0,80}?\b(?:is|shall\s+be)|\beffective(?:\s+as\s+(?:of|at|from)|\s+on|\s+from)?)\s*[,:]?\s*",
    re.IGNORECASE,
)
# "Date: ...", "Dated: ..." labels (at the top of a form, next to signatures), but not the
# "Commencement Date:" or "Termination Date:" of something else
_DATE_LABEL = re.compile(r"\b(?P<word>[A-Za-z]+\s+)?dated?\s*:\s*", re.IGNORECASE)
_OTHER_DATE_WORDS = {
    "effective", "commencement", "termination", "expiration", "expiry", "start", "starting", "end", "ending",
    "closing", "delivery", "due", "completion", "launch", "release", "birth", "filing", "payment", "invoice",
    "renewal", "target", "ship", "shipping", "order", "issue", "grant", "award", "maturity", "acceptance",
    "installation", "live", "review", "report", "record", "purchase", "offer", "expiry", "last", "first",
    "anniversary", "transfer", "exercise", "vesting", "settlement", "determination", "measurement", "valuation",
}
_THE = re.compile(r"(?:the|this)\s+", re.IGNORECASE)
# online terms carry their version date: "Last Updated: April 6, 2007"
_UPDATED_LABEL = re.compile(r"\blast\s+(?:updated|revised|modified)\s*(?:on\s*)?:?\s*", re.IGNORECASE)
# "This Agreement is dated April 29, 2010.", wherever it stands (some put it at the end)
_IS_DATED = re.compile(r"\bthis\s+(?:[\w&'’\-]+\s+){0,4}?(?:agreement|contract)\s+(?:is|shall\s+be)\s+dated\s+(?:as\s+of\s+)?", re.IGNORECASE)
# where the preamble starts when a cover page or a table of contents comes first
_PREAMBLE_START = re.compile(
    r"\bthis\s+(?:[\w&'’\-]+\s+){0,8}?(?:agreement|contract)\b[^.]{0,200}?\b(?:made|entered|effective|dated|executed)\b", re.IGNORECASE
)

# The agreement's own date is not the date of another document it mentions: "the Supply Agreement
# dated as of ...", "an agreement dated ...", "that certain Note Purchase Agreement dated ...".
_DOC_NOUN = (
    r"(?:agreements?|amendments?|contracts?|plans?|leases?|letters?|notes?|indentures?|declarations?|licen[cs]es?"
    r"|conventions?|arrangements?|memorand(?:um|a)|understandings?|sheets?|orders?|addend(?:um|a)|schedules?"
    r"|statements?\s+of\s+work|sows?|mou|deeds?|polic(?:y|ies)|certificates?|charters?|by-?laws|instruments?"
    r"|treat(?:y|ies)|acts?|resolutions?|consents?|protocols?|proposals?|quot(?:e|ation)s?|offers?|warrants?"
    r"|guarant(?:y|ee)s?|mortgages?|debentures?|filings?|prospectus|applications?|patents?|letters?\s+of\s+intent)"
)
_DET = r"(?:this|the|that|these|those|an?|said|such|its|his|her|their|our|your|certain|existing|original|prior|previous|other|separate|each|any|all|to|under)"
_ATTACHED_TO = re.compile(  # the greedy ".*" makes it the determiner nearest the cue
    rf"^.*\b(?P<det>{_DET})\s+(?:(?!{_DET}\b)[\w&'’\-./]+\s+){{0,8}}{_DOC_NOUN}"
    r"(?:\s+of\s+(?:[\w&'’\-]+\s+){0,3}?[\w&'’\-]+)?"  # "Plan of Reorganization", "Declaration of Trust"
    r"(?:\s*,?\s+(?:by\s+and\s+between|between|among|by|with)\s+[^,;.]{0,120}?)?\s*,?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_PAREN = re.compile(r"\([^()]*\)")


def _dates_other_document(text: str, cue_start: int) -> bool:
    """Does the dating cue at cue_start attach to a document other than this one?"""
    left = _PAREN.sub(" ", _PAREN.sub(" ", text[max(0, cue_start - 250) : cue_start]))
    m = _ATTACHED_TO.search(left)
    return bool(m) and m.group("det").lower() != "this"


def _in_recital(text: str, pos: int) -> bool:
    """A date in a "WHEREAS, ..." recital tells the history, not the date of this agreement."""
    s, _ = sentence_around(text, pos, pos)
    return "whereas" in text[s:pos].lower()


# A date left blank in the template: "as of ____________, 2006", "this ___ day of November, 2006",
# "[·] day of [·], 2019", "September ___, 2019", "as of , 2020" (the blank lost in conversion)
_BLANK = r"(?:_{2,}|\[[^\]\n]{0,5}\]|-{3,}|\*{3,})"
_MONTH_NAMES = r"january|february|march|april|may|june|july|august|september|october|november|december"
_PARTIAL = re.compile(
    rf"(?:{_BLANK}\s*)?(?:day\s+of\s+)?(?:(?P<month>{_MONTH_NAMES})\s*(?:{_BLANK}\s*)?|{_BLANK}\s*)?,?\s*"
    r"(?P<year>(?:19|20)\d\d)\b(?!\s*(?:[-/]|\d))",
    re.IGNORECASE,
)


def _partial_at(text: str, pos: int) -> Term | None:
    from review.dates import MONTHS

    m = _PARTIAL.match(text, pos)
    if not m:
        return None
    value = m.group("year") + (f"-{MONTHS[m.group('month').lower()]:02d}" if m.group("month") else "")
    return Term(value, m.group(), m.start(), m.end(), extra={"partial": True})


def _dated_at(text: str, pos: int, starts: dict) -> Term | None:
    """The full date, or the template date with blanks, that starts at pos ("the" / "this" skipped)."""
    t = _THE.match(text, pos)
    for p in (pos, t.end()) if t else (pos,):
        if p in starts:
            d = starts[p]
            return Term(d.iso, d.text, d.char_start, d.char_end)
    return _partial_at(text, t.end() if t else pos)


def _preamble_date(masked: str, dates, start: int = 0, end: int = PREAMBLE_CHARS) -> Term | None:
    """The date the preamble (masked[start:end]) gives this agreement: after "made / dated /
    entered into" (or a "Date:" label), else after "effective as of" or "Last updated:"; never
    another document's date or a recital's."""
    starts = {d.char_start: d for d in dates}
    cands = []
    for rank, cue_re in ((0, _MADE_CUE), (0, _DATE_LABEL), (1, _EFF_CUE), (1, _UPDATED_LABEL)):
        for cue in cue_re.finditer(masked, start, end):
            if cue_re is _DATE_LABEL and (cue.group("word") or "").strip().lower() in _OTHER_DATE_WORDS:
                continue
            term = _dated_at(masked, cue.end(), starts)
            if term is None or _dates_other_document(masked, cue.start()) or _in_recital(masked, cue.start()):
                continue
            cands.append((rank, term.char_start, term))
    if not cands:
        return None
    best = min(cands, key=lambda c: c[:2])[2]
    if best.extra.get("partial"):
        # "dated as of ____, 2012, but made effective as of February 20, 2012": the full date
        # that agrees with the blank one completes it
        full = [c for c in cands if not c[2].extra.get("partial") and c[2].value.startswith(best.value)]
        if full:
            return min(full, key=lambda c: c[:2])[2]
    return best


# A date standing under the title, as letters and some agreements are dated: "AGENCY AGREEMENT
# May 14, 2014 ...", or alone on its own line at the top.
_TITLE_END = re.compile(
    r"\b(?:AGREEMENT|CONTRACT|AMENDMENT|ADDENDUM|LETTER|MEMORANDUM(?:\s+OF\s+UNDERSTANDING)?|LEASE|TERMS)\s*[.:,\-–—]?\s*$"
)
# "November ___, 2006" or "July 2013": the month and year, the day left open
_MONTH_BLANK_YEAR = re.compile(rf"\b(?P<month>{_MONTH_NAMES})\s*(?:{_BLANK}\s*)?,?\s*(?P<year>(?:19|20)\d\d)\b", re.IGNORECASE)
TITLE_CHARS = 1500
LATE_PREAMBLE_CHARS = 20000


def _title_date(masked: str, dates) -> Term | None:
    from review.dates import MONTHS

    cands = [(d.char_start, d.char_end, Term(d.iso, d.text, d.char_start, d.char_end)) for d in dates if d.char_start < TITLE_CHARS]
    for m in _MONTH_BLANK_YEAR.finditer(masked, 0, TITLE_CHARS):
        value = f"{m.group('year')}-{MONTHS[m.group('month').lower()]:02d}"
        cands.append((m.start(), m.end(), Term(value, m.group(), m.start(), m.end(), extra={"partial": True})))
    # "AGENCY AGREEMENT ______, 2009": the title, then a date with blanks
    for m in re.finditer(r"\b(?:AGREEMENT|CONTRACT|AMENDMENT|ADDENDUM)\b\s*", masked[:TITLE_CHARS]):
        term = _partial_at(masked, m.end())
        if term is not None and (term.extra.get("partial") and re.search(r"[,_\[]|[a-z]", term.text, re.IGNORECASE)):
            cands.append((term.char_start, term.char_end, term))
    for s, e, term in sorted(cands, key=lambda c: c[0]):
        line_start = masked.rfind("\n", 0, s) + 1
        line_end = masked.find("\n", e)
        line_end = len(masked) if line_end < 0 else line_end
        alone = not masked[line_start:s].strip() and not masked[e:line_end].strip(" \t.,")
        if alone or _TITLE_END.search(masked[max(0, s - 80) : s]):
            return term
    return None


# Signature blocks: "IN WITNESS WHEREOF ... on November 8, 2002", "Date: 3/21/08", or the
# date in the blank above a "Date" caption. The latest such date is when the last party signed.
_WITNESS = re.compile(r"in\s+(?:witness|evidence|testimony)\s+(?:where|there)of|agreed\s+(?:and|&)\s+accepted|accepted\s+(?:and|&)\s+agreed", re.IGNORECASE)
SIGNATURE_CHARS = 2500
_DATE_CAPTION = re.compile(r"[\s_]*(?:\d{1,2}[/-]\d{1,2}[/-]\d{2,4}[\s_]*)*Date\b")
# a "Date" caption: "Date:", "DATED:", "Date signed:", or a capitalised "Date" before the blank
_LABEL_BEFORE = re.compile(
    r"\b(?P<word>[A-Za-z]+\s+)?(?:(?i:dated?(?:\s+signed)?)\s*:|Date|DATE|Dated|DATED)[\s_]*$"
)
# "THUS DONE AND SIGNED at Pretoria on this ...", "executed on their behalf this ..."
_SIGNED_CUE = re.compile(r"\b(?:signed|executed)\b[^.;:]{0,80}?\b(?:on|this|as\s+of)\s*(?:the\s+|this\s+)?$", re.IGNORECASE)


_SIGNATURE_WORDS = re.compile(r"\bdate|\bsigned\b|\bexecuted\b|\bsignature\b|/s/", re.IGNORECASE)
# "Rao Cheng (signature) June 25, 2014", "[signature authenticated ... on December 17, 2018]"
_SIGNATURE_MARK = re.compile(r"\(signature\)|\[signature\b|/s/", re.IGNORECASE)


def _signature_candidates(masked: str, regions: list[tuple[int, int]]):
    """Dates (two-digit years included) in the signature blocks and near "Date" / "signed" words,
    without scanning the whole contract."""
    windows = sorted(regions + [(m.start() - 150, m.end() + 250) for m in _SIGNATURE_WORDS.finditer(masked)])
    merged: list[list[int]] = []
    for s, e in windows:
        s, e = max(0, s), min(len(masked), e)
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out = []
    for s, e in merged:
        while s > 0 and not masked[s - 1].isspace():  # never cut a date in two
            s -= 1
        while e < len(masked) and not masked[e].isspace():
            e += 1
        out.extend(find_dates(masked[s:e], offset=s, short_years=True))
    return sorted({d.char_start: d for d in out}.values(), key=lambda d: d.char_start)


def _signature_date(text: str, masked: str) -> Term | None:
    regions = [(m.start(), m.start() + SIGNATURE_CHARS) for m in _WITNESS.finditer(masked)]
    found = []
    prev_end = -1
    for d in _signature_candidates(masked, regions):
        in_block = any(s <= d.char_start < e for s, e in regions)
        label = _LABEL_BEFORE.search(masked[max(0, d.char_start - 40) : d.char_start])
        labelled = bool(label) and (label.group("word") or "").strip().lower() not in _OTHER_DATE_WORDS
        # "Date:   3-29-2016   3-31-16": a date right after a signature date is one too
        chained = bool(found) and prev_end >= 0 and not masked[prev_end : d.char_start].strip(" \t\n_")
        captioned = bool(_DATE_CAPTION.match(masked, d.char_end))
        w = max(0, d.char_start - 120)
        signed_cue = _SIGNED_CUE.search(masked[w : d.char_start])
        signed = bool(signed_cue) or bool(_SIGNATURE_MARK.search(masked[w : d.char_start]))
        if re.fullmatch(r"[\d/-]+", d.text) and len(d.text) < 9 and not (labelled or captioned or chained or (in_block and "/" in d.text)):
            continue  # a two-digit-year date only where a date is written ("Section 9-08-06" is not one)
        if (in_block or signed) and _in_recital(masked, d.char_start):
            continue
        if in_block or labelled or captioned or chained or signed:
            # "... that certain Statement of Work executed by the parties on <date>" dates another document
            cue = signed_cue or _MADE_CUE_END.search(masked[w : d.char_start])
            if not labelled and _dates_other_document(masked, w + cue.start() if cue else d.char_start):
                continue
            found.append(d)
            prev_end = d.char_end
    if not found:
        return None
    d = max(found, key=lambda x: x.iso)
    return Term(d.iso, text[d.char_start : d.char_end], d.char_start, d.char_end, extra={"source": "signatures"})


def agreement_date(text: str) -> Term | None:
    """The date of this agreement, as a lawyer reads it: the preamble's "made / dated / entered
    into as of ..." (an amendment's own date, not the amended agreement's); else its "effective
    as of ..."; else a date under the title (letters); else the latest signature date. A template
    date with blanks ("as of ______, 2006") gives the year (and month) it states."""
    masked = _mask_filing_lines(text)
    dates = find_dates(masked[: PREAMBLE_CHARS + 100])
    term = _preamble_date(masked, dates) or _title_date(masked, dates)
    if term is None:  # a cover page or a table of contents before the preamble
        late = _PREAMBLE_START.search(masked, PREAMBLE_CHARS - 500, LATE_PREAMBLE_CHARS)
        if late:
            # the preamble sentence only: a later clause's "effective as of" is not this agreement's date
            w = (late.start(), min(sentence_around(masked, late.start(), late.end(), limit=1500)[1], late.start() + 1500))
            term = _preamble_date(masked, find_dates(masked[w[0] : w[1] + 100], offset=w[0]), *w)
    if term is None:
        for cue in _IS_DATED.finditer(masked):
            term = _dated_at(masked, cue.end(), {d.char_start: d for d in find_dates(masked[cue.end() : cue.end() + 60], offset=cue.end())})
            if term is not None:
                break
    if term is not None and not term.extra.get("partial"):
        return term
    signed = _signature_date(text, masked)
    if term is None:
        return signed
    # a blank template date, completed by a signature date that agrees with it
    if signed is not None and signed.value.startswith(term.value):
        return signed
    return term


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


# The agreement's own term, not a confidentiality, survival, warranty or payment period.
_TERM_SENTENCE = re.compile(
    r"\b(?:initial\s+term|term\s+of\s+this\s+(?:agreement|contract)|this\s+(?:agreement|contract)\s+(?:shall|will)\s+"
    r"(?:commence|begin|become\s+effective|be\s+effective|remain|continue|expire|terminate|be\s+in\s+effect|have\s+a\s+term|run)"
    r"|(?:agreement|contract)\s+(?:shall|will)\s+(?:be\s+)?(?:valid|in\s+(?:full\s+)?force)|the\s+term\s+(?:shall|will)|\"term\"|“term”)",
    re.IGNORECASE,
)
_OTHER_PERIOD = re.compile(r"confidential|surviv|warrant|non-?compet|solicit|payment|invoice|notice|after\s+(?:the\s+)?(?:expiration|termination)|following\s+(?:the\s+)?(?:expiration|termination)", re.IGNORECASE)
_UNTIL_TERMINATED = re.compile(
    r"(?:until|unless\s+and\s+until)\s+(?:it\s+is\s+)?(?:terminated|either\s+party\s+terminates|such\s+time\s+as\s+(?:it\s+is\s+)?terminated)"
    r"|(?:continue|remain)\s+in\s+(?:full\s+)?(?:force\s+and\s+effect|effect)\s+(?:indefinitely|until\s+terminated)|\bperpetu|\bindefinite",
    re.IGNORECASE,
)
_END_CUE = re.compile(r"\b(?:until|through|expir\w*|end(?:s|ing)?|terminat\w*)\s+(?:on\s+|at\s+|upon\s+)?(?:\w+\s+){0,3}$", re.IGNORECASE)


def _add_duration(iso: str, d: Duration) -> str:
    """The end of a term of `d` starting on `iso`, as its anniversary: a one-year term from
    1 March 2020 ends on 1 March 2021 (CUAD's annotators and most contracts count this way),
    a length within a day of whole months ends on that day of the month; business days
    are counted on a Monday-to-Friday calendar."""
    if d.unit == "business day":
        return add_business_days(iso, d.value)
    years = round(d.days / 365)
    if years and abs(d.days - years * 365) < 5:
        return add_years(iso, years)
    if 28 <= d.days and abs(d.days - round(d.days / 30) * 30) <= 1:
        return add_months(iso, round(d.days / 30))
    return add_days(iso, d.days)


def expiration_date(text: str, effective: Term | None) -> Term | None:
    """When the initial term ends: a date the term sentence names ("until December 31, 2024"),
    the effective date plus the term's length ("for three (3) years"), or "perpetual" when
    the agreement runs until terminated."""
    masked = _mask_filing_lines(text)
    for m in _TERM_SENTENCE.finditer(masked):
        s, e = sentence_around(masked, m.start(), m.end(), limit=600)
        sentence = masked[s:e]
        dates = [d for d in find_dates(sentence, offset=s) if effective is None or d.iso > str(effective.value)]
        ended = [d for d in dates if _END_CUE.search(masked[max(s, d.char_start - 60) : d.char_start])]
        if ended:
            d = ended[0]
            return Term(d.iso, d.text, d.char_start, d.char_end)
        durations = [
            x for x in find_durations(sentence, offset=s)
            if x.days >= 180 and not _OTHER_PERIOD.search(masked[max(s, x.char_start - 80) : x.char_start])
            and not re.search(r"renew|successive|additional|extend|\band\s+(?:for|the)\b", masked[max(s, x.char_start - 60) : x.char_start], re.IGNORECASE)
        ]
        if durations:
            start = [d for d in find_dates(sentence, offset=s) if d.char_start < durations[0].char_start]
            base = start[-1].iso if start and re.search(r"commenc|from|begin|start", sentence, re.IGNORECASE) else (effective.value if effective else None)
            if base and len(str(base)) == 10:
                d = durations[0]
                try:
                    iso = _add_duration(base, d)
                except (ValueError, OverflowError):  # "9000 years" runs past the calendar
                    continue
                return Term(iso, masked[min(m.start(), d.char_start) : max(m.end(), d.char_end)], min(m.start(), d.char_start),
                            max(m.end(), d.char_end), extra={"computed": f"{base} + {d.text}"})
        if _UNTIL_TERMINATED.search(sentence) and not durations and not dates:
            u = _UNTIL_TERMINATED.search(sentence)
            return Term("perpetual", u.group(), s + u.start(), s + u.end())
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
# A party's defined name: '("Aduro")', '(the "Company")', '(hereinafter referred to as "VAL")',
# '(together with its successors and assigns, "Lessor")' -- the first quoted word(s) in a parenthesis.
_ALIAS = re.compile(r"\(([^()\"“”]{0,80}?)[\"“]\s*([^\"”]{1,40}?)\s*[\"”]")
_PARTY_CUE = re.compile(r"\b(?:by\s+and\s+)?(?:between|among)\b|\bby\s+(?=[A-Z])", re.IGNORECASE)
_PREAMBLE_END = re.compile(r"\bWHEREAS\b|\bRECITALS?\b|\bBACKGROUND\b|\bW\s?I\s?T\s?N\s?E\s?S\s?S|NOW,?\s+THEREFORE|\n\s*(?:1|I)\.\s+[A-Z]")
_NOT_PARTY_ALIAS = re.compile(r"agreement|date|part(?:y|ies)|amendment|contract|exhibit|schedule|act\b|you|we\b|us\b|our", re.IGNORECASE)
# where the name stops and its description starts: "Acme, Inc., a Delaware corporation", "Acme Ltd of 4 High St", "Acme (f/k/a ...)"
_NAME_END = re.compile(
    r",(?!\s*(?i:Inc|Incorporated|LLC|L\.L\.C|Ltd|Limited|L\.?P|LLP|Corp|Corporation|Co|S\.A|S\.p\.A|N\.V|B\.V|GmbH|AG|plc|Pty)\b)"
    r"|\s+(?:with|having|located|whose|which|organi[sz]ed|incorporated|represented|acting|on\s+behalf|of\s+\d|a\s+(?:company|corporation))\b"
    r"|\s*\(|\s{3,}|\n"
)
_LEADING = re.compile(r"^(?:[\s,;:.]|and\b|between\b|among\b|by\b|the\s+(?=[a-z])|\(\w{1,3}\)|\d{1,2}\.\s)+", re.IGNORECASE)


def _name_before(region: str, start: int, end: int) -> tuple[int, int] | None:
    """The party name in region[start:end] (the text between the previous party and this
    party's defined-name parenthesis), as a span, or None."""
    seg = region[start:end]
    # the last party mentioned: after the last ", and" / "; and" / ") and" / "and" that follows a description
    cut = 0
    for m in re.finditer(r"(?:[,;)]\s*|\s)and\s+(?=[A-Z\d])|;\s*(?=[A-Z])|\bbetween\s+|\bamong\s+|\bby\s+(?=[A-Z])", seg, re.IGNORECASE):
        before = seg[:m.start()].rstrip()
        # "Savings and Loan Association": an "and" between two capitalised words without a comma is part of a name
        if re.match(r"\s+and", m.group()) and re.search(r"[A-Z][\w&'.-]*$", before) and not re.search(_SUFFIX + r"$", before):
            continue
        cut = m.end()
    s = cut
    m = _LEADING.match(seg, s)
    if m:
        s = m.end()
    # a heading run-in: "CONSULTING AGREEMENT Aduro Biotech, Inc." -> after the last all-caps AGREEMENT
    head = None
    for head in re.finditer(r"\b(?:AGREEMENT|CONTRACT|Agreement)\b\s+", seg[s:]):
        pass
    if head is not None and re.match(r"[A-Z]", seg[s + head.end():]):
        s += head.end()
    e = _NAME_END.search(seg, s)
    e = e.start() if e else len(seg)
    name = seg[s:e].strip(" ,;:\"“”'")
    if name.endswith(".") and not re.search(r"(?:\b(?:Inc|Corp|Ltd|Co|Bros|Jr|Sr|[A-Z])|\.\w{1,3})\.$", name, re.IGNORECASE):
        name = name[:-1]  # a sentence's full stop, not "Inc." or "L.P."
    addressed = re.match(rf"(.*?{_SUFFIX})\s+of\s+[A-Z\d]", name)  # "Acme Limited of 4 High Street"
    if addressed:
        name = addressed.group(1)
    # names start with a capital, a digit or a blank; "iMine Corporation", "drkoop.com" have a capital or a dot later
    if len(name) < 2 or len(name) > 120 or not (re.match(r"[A-Z0-9\[_]", name) or re.match(r"[a-z]+[A-Z.]", name)):
        return None
    off = seg.find(name, s)
    return start + off, start + off + len(name)


def _aliased_parties(text: str) -> list[tuple[str, int, int]]:
    """Parties introduced with a defined name in the preamble, in order."""
    head = text[:PREAMBLE_CHARS + 2000]
    cue = _PARTY_CUE.search(head, 0, PREAMBLE_CHARS)
    first_alias = _ALIAS.search(head)
    if first_alias is None:
        return []
    start = cue.start() if cue and cue.start() < first_alias.start() + 300 else max(0, head.rfind("\n\n", 0, first_alias.start()))
    end_m = _PREAMBLE_END.search(head, start + 20)
    end = min(end_m.start() if end_m else len(head), start + 2500)
    out: list[tuple[str, int, int]] = []
    prev = start
    for m in _ALIAS.finditer(head, start, end):
        alias, lead = m.group(2), m.group(1).lower()
        if _NOT_PARTY_ALIAS.search(alias) or "collectively" in lead or "together" in lead and "successors" not in lead:
            prev = m.end()
            continue
        span = _name_before(head, prev, m.start())
        prev = head.find(")", m.end()) + 1 or m.end()
        if span is None:
            continue
        name = head[span[0]:span[1]]
        if name.lower() == alias.lower() or any(name == n for n, _, _ in out):
            continue
        out.append((name, span[0], span[1]))
    return out


def _suffix_entities(head: str) -> list[tuple[str, int, int]]:
    names: list[tuple[str, int, int]] = []
    seen = set()
    for m in _ENTITY.finditer(head):
        name = m.group(1).strip(" ,")
        name = re.sub(r"^(?:and|between|by|among|with|this|the)\s+", "", name, flags=re.IGNORECASE).strip()
        key = re.sub(r"\W+", " ", name.lower()).strip()
        if len(name) < 4 or key in seen or key.split()[0] in {"agreement", "the", "this", "such", "whereas"} or len(key.split()) < 2 \
                or re.match(r"\d", name):
            continue
        seen.add(key)
        off = m.start(1) + m.group(1).find(name)
        names.append((name, off, off + len(name)))
        if len(names) >= 4:
            break
    return names


def parties(text: str) -> Term | None:
    """The contracting parties, in order: names introduced with a defined name in the
    preamble ('Acme Inc., a Delaware corporation ("Acme")'); when fewer than two are found
    that way, names with a corporate suffix from the start of the contract fill in."""
    masked = _mask_filing_lines(text)
    names = _aliased_parties(masked)
    if len(names) < 2:
        keys = {re.sub(r"\W+", " ", n.lower()).strip() for n, _, _ in names}
        for n, s, e in _suffix_entities(masked[:PREAMBLE_CHARS]):
            k = re.sub(r"\W+", " ", n.lower()).strip()
            if k not in keys and not any(k in x or x in k for x in keys):
                names.append((n, s, e))
                keys.add(k)
            if len(names) >= 4:
                break
    if not names:
        return None
    names = names[:8]
    aliases = []
    for name, s, e in names:
        d = _DEFINED.search(text, e, min(len(text), e + 160))
        aliases.append(d.group(1) if d else None)
    s, e = min(x[1] for x in names), max(x[2] for x in names)
    return Term(
        [n for n, _, _ in names], text[s:e], s, e,
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
