"""Playbooks: a team's contract standards as YAML rules, validated with clear errors.

    name: Vendor / services agreement
    rules:
      - id: cap-required
        type: clause_required          # the clause must be present
        clause: Cap On Liability
        severity: high
        message: No limitation of liability clause was found.
      - id: no-non-compete
        type: clause_forbidden         # the clause must be absent
        clause: Non-Compete
        severity: medium
      - id: uncapped-liability
        type: clause_without           # clause present without its paired clause
        clause: Uncapped Liability
        without: Cap On Liability
        severity: high
      - id: renewal-notice
        type: term_max                 # a numeric key term within bounds (days)
        term: notice_period_to_terminate_renewal
        max: 90
        severity: medium
      - id: governing-law
        type: term_in                  # a key term from an allowed list
        term: governing_law
        allowed: [New York, Delaware]
        severity: low

Messages may use {value}, {clause}, {term}, {max}, {min}, {allowed}.
"""
from __future__ import annotations

from collections import Counter

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import DocIntelError
from review.terms import TERM_NAMES

DEFAULT_PLAYBOOK = Path(__file__).parent / "playbooks" / "vendor_services.yaml"
Severity = Literal["high", "medium", "low"]


class PlaybookError(DocIntelError):
    """The playbook file is not valid; the message lists every problem with its location."""


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    severity: Severity
    message: str | None = None
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)


def _check_clause(name: str) -> str:
    """Accept CUAD names and aliases in any case; store the canonical name."""
    from review.taxonomy import get_category

    try:
        return get_category(name).name
    except KeyError:
        import difflib

        from review.taxonomy import CATEGORY_NAMES

        close = difflib.get_close_matches(name, CATEGORY_NAMES, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else " (see `docintel review categories`)"
        raise ValueError(f"unknown clause category '{name}'{hint}") from None


class ClauseRequired(_Rule):
    type: Literal["clause_required"]
    clause: str
    _v = field_validator("clause")(classmethod(lambda cls, v: _check_clause(v)))


class ClauseForbidden(_Rule):
    type: Literal["clause_forbidden"]
    clause: str
    _v = field_validator("clause")(classmethod(lambda cls, v: _check_clause(v)))


class ClauseWithout(_Rule):
    type: Literal["clause_without"]
    clause: str
    without: str
    _v = field_validator("clause", "without")(classmethod(lambda cls, v: _check_clause(v)))


def _check_term(name: str) -> str:
    if name not in TERM_NAMES:
        raise ValueError(f"unknown term '{name}' (known: {', '.join(TERM_NAMES)})")
    return name


class TermMax(_Rule):
    type: Literal["term_max"]
    term: str
    max: float
    _v = field_validator("term")(classmethod(lambda cls, v: _check_term(v)))


class TermMin(_Rule):
    type: Literal["term_min"]
    term: str
    min: float
    _v = field_validator("term")(classmethod(lambda cls, v: _check_term(v)))


class TermIn(_Rule):
    type: Literal["term_in"]
    term: str
    allowed: list[str] = Field(min_length=1)
    _v = field_validator("term")(classmethod(lambda cls, v: _check_term(v)))


Rule = Annotated[Union[ClauseRequired, ClauseForbidden, ClauseWithout, TermMax, TermMin, TermIn], Field(discriminator="type")]


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str | None = None
    rules: list[Rule] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules):
        counts = Counter(r.id for r in rules)
        dupes = sorted(i for i, n in counts.items() if n > 1)
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(dupes)}")
        return rules


def load_playbook(path: str | Path | None = None) -> Playbook:
    path = Path(path) if path else DEFAULT_PLAYBOOK
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlaybookError(f"playbook not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise PlaybookError(f"playbook {path} is not valid YAML: {exc}") from exc
    return parse_playbook(data, str(path))


def parse_playbook(data: Any, source: str = "playbook") -> Playbook:
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in _RULE_TAGS))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"  {loc or '(top level)'}: {msg}")
        raise PlaybookError(f"{source} is not a valid playbook:\n" + "\n".join(problems)) from exc


_RULE_TAGS = {"clause_required", "clause_forbidden", "clause_without", "term_max", "term_min", "term_in"}


@dataclass
class Finding:
    rule: str
    severity: str
    message: str
    clauses: list[dict] = field(default_factory=list)  # the spans that triggered it
    term: dict | None = None
    explanation: dict | None = None  # review/explain.py, when an LLM explanation was asked for

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("term", "explanation"):
            if out[key] is None:
                out.pop(key)
        return out


SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def evaluate(playbook: Playbook, clauses: list[dict], terms: dict[str, dict | None]) -> list[Finding]:
    """clauses: [{category, text, page, char_start, char_end, confidence}], terms: name -> Term dict or None."""
    findings: list[Finding] = []

    def present(category: str, min_conf: float) -> list[dict]:
        return [c for c in clauses if c["category"] == category and c["confidence"] >= min_conf]

    for rule in playbook.rules:
        fmt: dict[str, Any] = {"clause": getattr(rule, "clause", ""), "term": getattr(rule, "term", "")}
        if isinstance(rule, ClauseRequired):
            if not present(rule.clause, rule.min_confidence):
                findings.append(Finding(rule.id, rule.severity, (rule.message or "Required clause missing: {clause}.").format(**fmt)))
        elif isinstance(rule, ClauseForbidden):
            hits = present(rule.clause, rule.min_confidence)
            if hits:
                findings.append(Finding(rule.id, rule.severity, (rule.message or "Clause not allowed: {clause}.").format(**fmt), hits))
        elif isinstance(rule, ClauseWithout):
            hits = present(rule.clause, rule.min_confidence)
            if hits and not present(rule.without, rule.min_confidence):
                fmt["without"] = rule.without
                findings.append(Finding(rule.id, rule.severity, (rule.message or "{clause} without {without}.").format(**fmt), hits))
        else:
            term = terms.get(rule.term)
            if term is None:
                continue  # an absent term is a clause_required question, not a bounds one
            value = term["value"]
            fmt.update(value=value, max=getattr(rule, "max", None), min=getattr(rule, "min", None), allowed=", ".join(getattr(rule, "allowed", [])))
            bad = False
            if isinstance(rule, TermMax) and isinstance(value, (int, float)):
                bad = value > rule.max
            elif isinstance(rule, TermMin) and isinstance(value, (int, float)):
                bad = value < rule.min
            elif isinstance(rule, TermIn):
                bad = str(value).lower() not in {a.lower() for a in rule.allowed}
            if bad:
                default = {"term_max": "{term} is {value}, above the limit of {max}.", "term_min": "{term} is {value}, below the minimum of {min}.",
                           "term_in": "{term} is {value}; allowed: {allowed}."}[rule.type]
                span = {k: term.get(k) for k in ("text", "page", "char_start", "char_end")}
                findings.append(Finding(rule.id, rule.severity, (rule.message or default).format(**fmt), [{"category": rule.term, **span}], term))
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])
