"""Dates and durations in contract language, normalised (ISO dates, durations in days)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from dateutil.relativedelta import relativedelta

from core.text import NUMBER_WORDS

MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), start=1)}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9

_MONTH = r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:\s?(?:st|nd|rd|th|t\s?h|s\s?t))?"
# "the first day of July, 2017": the day as an ordinal word
ORDINAL_WORDS = {
    w: i for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
        "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split(), start=1)
}
ORDINAL_WORDS.update({f"twenty{sep}{w}": 20 + i for w, i in list(ORDINAL_WORDS.items()) if i < 10 for sep in ("-", " ")})
ORDINAL_WORDS.update({"thirtieth": 30, "thirty-first": 31, "thirty first": 31})
_DAYWORD_BEFORE = re.compile(r"(?P<dayword>[A-Za-z]+(?:[- ][A-Za-z]+)?)\s+$")
_YEAR = r"(?P<year>(?:19|20)\d\d)"
# between the day and the year: "March 3, 2025", "March 3 , 2025", "May 3,2025", "31 December, ---- 1996"
_SEP = r"(?:\s*,\s*(?:[-_]{2,}\s*)?|\s+)"
DATE_PATTERNS = [
    # March 3, 2025 / March 3 2025
    re.compile(rf"\b{_MONTH}\s+{_DAY}{_SEP}{_YEAR}\b", re.IGNORECASE),
    # 3 March 2025 / 3rd day of March, 2025 / the 3rd day of March 2025
    re.compile(rf"\b{_DAY}\s+(?:day\s+of\s+)?{_MONTH}{_SEP}(?:of\s+)?{_YEAR}\b", re.IGNORECASE),
    # 2025-03-03
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mnum>[01]?\d)-(?P<day>[0-3]?\d)\b"),
    # 03/03/2025 or 03-03-2025 (US month/day/year, as in SEC filings; day/month/year when the
    # first number cannot be a month, as in 13/07/2025)
    re.compile(r"\b(?P<mnum>[0-3]?\d)(?P<sep>[/-])(?P<day>[0-3]?\d)(?P=sep)(?P<year>(?:19|20)\d\d)\b"),
]
# "(the first) day of March, 2025": the ordinal word before it is read in find_dates (a regex
# alternation of the words would be slow on long contracts)
ORDINAL_DATE = re.compile(rf"\bday\s+of\s+{_MONTH}{_SEP}(?:of\s+)?{_YEAR}\b", re.IGNORECASE)
# 3/24/06, 3-31-16: two-digit years, as handwritten next to signatures; only read where a
# date is expected (find_dates(..., short_years=True)), since "1/2/10" may be anything elsewhere
SHORT_DATE = re.compile(r"(?<![\d/.-])(?P<mnum>[0-3]?\d)(?P<sep>[/-])(?P<day>[0-3]?\d)(?P=sep)(?P<yy>\d\d)(?![\d/-])")
# "March, 2025" or "March 2025": a month without a day
MONTH_YEAR = re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE)


@dataclass(frozen=True)
class DateMatch:
    iso: str
    char_start: int
    char_end: int
    text: str


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except (TypeError, ValueError):
        if month > 12 and day <= 12:  # day/month/year
            try:
                return date(year, day, month)
            except ValueError:
                return None
        return None


def find_dates(text: str, offset: int = 0, short_years: bool = False) -> list[DateMatch]:
    found: dict[int, DateMatch] = {}
    patterns = DATE_PATTERNS + ([SHORT_DATE] if short_years else [])
    for pattern in patterns:
        for m in pattern.finditer(text):
            g = m.groupdict()
            if g.get("month"):
                key = g["month"].lower().rstrip(".")
                month = MONTHS.get(key) or MONTHS.get(key[:3])
            else:
                month = int(g["mnum"])
            if g.get("yy") is not None:
                yy = int(g["yy"])
                year = 2000 + yy if yy < 50 else 1900 + yy
            else:
                year = int(g["year"])
            d = _make_date(year, int(month), int(g["day"]))
            if d is None:
                continue
            if m.start() not in found:
                found[m.start()] = DateMatch(d.isoformat(), offset + m.start(), offset + m.end(), m.group())
    for m in ORDINAL_DATE.finditer(text):
        w = _DAYWORD_BEFORE.search(text, max(0, m.start() - 30), m.start())
        if not w:
            continue
        words = w.group("dayword").lower().replace("-", " ").split()
        if " ".join(words) in ORDINAL_WORDS:  # "twenty-first", "twenty first"
            day, start = ORDINAL_WORDS[" ".join(words)], w.start("dayword")
        elif words[-1] in ORDINAL_WORDS:  # "the first"
            day, start = ORDINAL_WORDS[words[-1]], w.end("dayword") - len(words[-1])
        else:
            continue
        key = m.group("month").lower().rstrip(".")
        d = _make_date(int(m.group("year")), MONTHS.get(key) or MONTHS.get(key[:3]), day)
        if d is not None and start not in found:
            found[start] = DateMatch(d.isoformat(), offset + start, offset + m.end(), text[start : m.end()])
    return [found[k] for k in sorted(found)]


# the shared number words, and the compounds and articles a contract's periods use
_NUMBER_WORDS = {**NUMBER_WORDS, "forty-five": 45, "one hundred twenty": 120, "one hundred eighty": 180, "a": 1, "an": 1}
UNIT_DAYS = {"day": 1, "business day": 1, "week": 7, "month": 30, "year": 365}
_NUM = r"(?P<num>\d{1,4}|" + "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in _NUMBER_WORDS), key=len, reverse=True)) + r")"
DURATION = re.compile(
    rf"\b{_NUM}(?:\s*\(\s*(?P<paren>\d{{1,4}})\s*\))?[\s-]*(?P<unit>business\s+days?|calendar\s+days?|days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Duration:
    """A length of time as a contract states it. `days` is the nominal length used to
    compare and report terms (a month is 30 days, a year 365, a business day counts as one
    day); `add_duration` counts it on a calendar from a start date."""

    days: int
    char_start: int
    char_end: int
    text: str
    value: int = 0  # the number as written: 10 in "ten (10) business days"
    unit: str = "day"  # day | business day | week | month | year


def find_durations(text: str, offset: int = 0) -> list[Duration]:
    out = []
    for m in DURATION.finditer(text):
        num = m.group("paren") or m.group("num")
        value = int(num) if num.isdigit() else _NUMBER_WORDS.get(" ".join(num.lower().split()))
        if value is None:
            continue
        # PDF text breaks lines anywhere: "calendar\nday" is "calendar day"
        unit = " ".join(m.group("unit").lower().split()).replace("calendar ", "").rstrip("s")
        unit = "business day" if unit.startswith("business") else unit
        days = value * UNIT_DAYS[unit]
        if unit == "month" and value % 12 == 0:
            days = value // 12 * 365  # "12 months" and "1 year" are the same term
        out.append(Duration(days, offset + m.start(), offset + m.end(), m.group(), value, unit))
    return out


def add_years(iso: str, years: int) -> str:
    """The anniversary: 29 February plus a year is 28 February."""
    return (date.fromisoformat(iso) + relativedelta(years=years)).isoformat()


def add_months(iso: str, months: int) -> str:
    """The same day `months` calendar months on, or that month's last day: 31 January plus
    one month is 28 (or 29) February."""
    return (date.fromisoformat(iso) + relativedelta(months=months)).isoformat()


def add_business_days(iso: str, n: int) -> str:
    """The n-th business day (Monday to Friday; public holidays are not known) after `iso`:
    10 business days after Friday 3 January 2025 is Friday 17 January; counted from a
    Saturday, the first is the Monday after."""
    return str(np.busday_offset(np.datetime64(iso, "D"), n, roll="backward"))


def add_days(iso: str, days: int) -> str:
    return (date.fromisoformat(iso) + timedelta(days=days)).isoformat()
