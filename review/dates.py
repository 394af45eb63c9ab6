"""Dates and durations in contract language, normalised (ISO dates, durations in days)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), start=1)}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9

_MONTH = r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:\s?(?:st|nd|rd|th|t\s?h|s\s?t))?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
DATE_PATTERNS = [
    # March 3, 2025 / March 3 2025
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),
    # 3 March 2025 / 3rd day of March, 2025 / the 3rd day of March 2025
    re.compile(rf"\b{_DAY}\s+(?:day\s+of\s+)?{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", re.IGNORECASE),
    # 2025-03-03
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mnum>[01]?\d)-(?P<day>[0-3]?\d)\b"),
    # 03/03/2025 (US month/day/year, as in SEC filings)
    re.compile(r"\b(?P<mnum>[01]?\d)/(?P<day>[0-3]?\d)/(?P<year>(?:19|20)\d\d)\b"),
]
# "March, 2025" or "March 2025": a month without a day
MONTH_YEAR = re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE)


@dataclass(frozen=True)
class DateMatch:
    iso: str
    char_start: int
    char_end: int
    text: str


def find_dates(text: str, offset: int = 0) -> list[DateMatch]:
    found: dict[int, DateMatch] = {}
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            g = m.groupdict()
            if g.get("month"):
                key = g["month"].lower().rstrip(".")
                month = MONTHS.get(key) or MONTHS.get(key[:3])
            else:
                month = int(g["mnum"])
            try:
                d = date(int(g["year"]), int(month), int(g["day"]))
            except (TypeError, ValueError):
                continue
            if m.start() not in found:
                found[m.start()] = DateMatch(d.isoformat(), offset + m.start(), offset + m.end(), m.group())
    return [found[k] for k in sorted(found)]


_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "eighteen": 18, "twenty": 20, "thirty": 30, "forty": 40,
    "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90, "one hundred twenty": 120, "one hundred eighty": 180,
    "a": 1, "an": 1,
}
UNIT_DAYS = {"day": 1, "business day": 1, "week": 7, "month": 30, "year": 365}
_NUM = r"(?P<num>\d{1,4}|" + "|".join(sorted((re.escape(w).replace(r"\ ", r"\s+") for w in _NUMBER_WORDS), key=len, reverse=True)) + r")"
DURATION = re.compile(
    rf"\b{_NUM}(?:\s*\(\s*(?P<paren>\d{{1,4}})\s*\))?[\s-]*(?P<unit>business\s+days?|calendar\s+days?|days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Duration:
    days: int
    char_start: int
    char_end: int
    text: str


def find_durations(text: str, offset: int = 0) -> list[Duration]:
    out = []
    for m in DURATION.finditer(text):
        num = m.group("paren") or m.group("num")
        value = int(num) if num.isdigit() else _NUMBER_WORDS.get(" ".join(num.lower().split()))
        if value is None:
            continue
        unit = m.group("unit").lower().replace("calendar ", "").rstrip("s")
        unit = "business day" if unit.startswith("business") else unit
        days = value * UNIT_DAYS[unit]
        if unit == "month" and value % 12 == 0:
            days = value // 12 * 365  # "12 months" and "1 year" are the same term
        out.append(Duration(days, offset + m.start(), offset + m.end(), m.group()))
    return out


def add_days(iso: str, days: int) -> str:
    from datetime import timedelta

    return (date.fromisoformat(iso) + timedelta(days=days)).isoformat()


def add_years(iso: str, years: int) -> str:
    d = date.fromisoformat(iso)
    try:
        return d.replace(year=d.year + years).isoformat()
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28).isoformat()
