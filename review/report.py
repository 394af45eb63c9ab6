"""A standalone HTML review report a lawyer can forward (no external assets)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, select_autoescape

from core.fileio import atomic_write_bytes
from review.service import Review
from review.taxonomy import ATTRIBUTION, CATEGORY_NAMES

TERM_LABELS = {
    "parties": "Parties", "agreement_date": "Agreement date", "effective_date": "Effective date",
    "expiration_date": "Expiration date", "renewal_term": "Renewal term", "notice_period_to_terminate_renewal": "Notice to stop renewal",
    "governing_law": "Governing law", "liability_cap": "Liability cap",
}

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Contract review: {{ r.document.name }}</title>
<style>
 body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2330;max-width:980px;margin:32px auto;padding:0 24px;line-height:1.45}
 h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 10px;border-bottom:2px solid #e6e8ef;padding-bottom:6px}
 .meta{color:#5b6475;font-size:13px} .cards{display:flex;gap:12px;margin:20px 0}
 .card{flex:1;border:1px solid #e6e8ef;border-radius:8px;padding:12px 14px} .card b{font-size:26px;display:block}
 .high{color:#b42318} .medium{color:#b54708} .low{color:#175cd3}
 .badge{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;border-radius:10px;padding:2px 8px;color:#fff}
 .badge.high{background:#d92d20} .badge.medium{background:#dc6803} .badge.low{background:#2e90fa}
 .finding{border-left:4px solid #e6e8ef;padding:8px 12px;margin:10px 0;background:#fafbfc}
 .finding.high{border-color:#d92d20} .finding.medium{border-color:#dc6803} .finding.low{border-color:#2e90fa}
 .explain{margin:6px 0 4px 6px;color:#1d2330}
 .finding .msg{color:#1d2330;font-weight:600;margin-left:6px} .rule{color:#5b6475;font-size:12px;margin-left:6px}
 blockquote{margin:6px 0 0;padding:6px 10px;background:#fff;border:1px solid #eceef3;border-radius:4px;font-size:13px;color:#344054}
 table{border-collapse:collapse;width:100%;font-size:14px} th,td{text-align:left;vertical-align:top;padding:7px 8px;border-bottom:1px solid #eceef3}
 th{background:#f5f6f9;font-weight:600} td.quote{color:#475467;font-size:13px}
 .cat{margin:14px 0} .cat h3{font-size:15px;margin:0 0 4px} .conf{color:#5b6475;font-size:12px;white-space:nowrap}
 .none{color:#98a2b3} .foot{color:#98a2b3;font-size:12px;margin-top:40px;border-top:1px solid #eceef3;padding-top:10px}
 @media print{.finding,.cat{break-inside:avoid}}
</style></head><body>
<h1>Contract review: {{ r.document.name }}</h1>
<div class="meta">{{ r.document.pages }} page{{ "s" if r.document.pages != 1 }} &middot; playbook: {{ r.playbook }} &middot; generated {{ generated }}</div>

<div class="cards">
 <div class="card"><b class="high">{{ counts.high }}</b>high-severity findings</div>
 <div class="card"><b class="medium">{{ counts.medium }}</b>medium</div>
 <div class="card"><b class="low">{{ counts.low }}</b>low</div>
 <div class="card"><b>{{ by_category|length }}</b>clause categories found (of {{ n_categories }})</div>
</div>

<h2>Findings</h2>
{% if not r.findings %}<p class="none">No playbook rule was triggered.</p>{% endif %}
{% for f in r.findings %}
<div class="finding {{ f.severity }}"><span class="badge {{ f.severity }}">{{ f.severity }}</span><span class="msg">{{ f.message }}</span><span class="rule">rule {{ f.rule }}</span>
 {% if f.explanation %}<p class="explain">{{ f.explanation.text }} <span class="conf">(plain-language explanation by {{ f.explanation.model }}; each sentence checked against the quoted clause)</span></p>{% endif %}
 {% for c in f.clauses[:3] %}<blockquote>{{ c.text|truncate(420) }}{% if c.page %} <span class="conf">(p. {{ c.page }})</span>{% endif %}</blockquote>{% endfor %}
</div>
{% endfor %}

<h2>Key terms</h2>
<table><tr><th style="width:22%">Term</th><th style="width:26%">Value</th><th>Source</th><th style="width:6%">Page</th></tr>
{% for key, label in term_labels.items() %}{% set t = r.terms.get(key) %}
<tr><td>{{ label }}</td>
{% if t %}<td>{{ fmt(key, t) }}</td><td class="quote">{{ t.text|truncate(260) }}</td><td>{{ t.page }}</td>
{% else %}<td class="none">not stated</td><td></td><td></td>{% endif %}</tr>
{% endfor %}</table>

<h2>Clauses by category</h2>
{% if not by_category %}<p class="none">No clauses detected.</p>{% endif %}
{% if hidden %}<p class="meta">Showing clauses detected with at least {{ "%.0f"|format(min_conf * 100) }}% confidence; {{ hidden }} lower-confidence candidate{{ "s" if hidden != 1 }} are in the JSON output.</p>{% endif %}
{% if point.requested_recall %}<p class="meta">Operating point: every candidate with at least {{ "%.1f"|format(point.threshold * 100) }}% confidence, chosen to find {{ "%.0f"|format(point.requested_recall * 100) }}% of clauses{% if point.recall is not none %} (on contracts the model did not see: recall {{ "%.0f"|format(point.recall * 100) }}%, precision {{ "%.0f"|format(point.precision * 100) }}%){% endif %}.</p>{% endif %}
{% for cat, items in by_category %}
<div class="cat"><h3>{{ cat }}</h3>
{% for c in items %}<blockquote>{{ c.text|truncate(600) }} <span class="conf">p. {{ c.page }} &middot; {{ "%.0f"|format(c.confidence * 100) }}%</span></blockquote>{% endfor %}
</div>
{% endfor %}
{% if also_check %}<h2>Also check</h2>
<details><summary>{{ r.also_check|length }} lower-confidence candidate{{ "s" if r.also_check|length != 1 }} below the operating point; the {{ also_check|length }} most likely:</summary>
{% for c in also_check %}<blockquote><b>{{ c.category }}</b>: {{ c.text|truncate(300) }} <span class="conf">p. {{ c.page }} &middot; {{ "%.1f"|format(c.confidence * 100) }}%</span></blockquote>{% endfor %}
</details>{% endif %}
<div class="foot">Automated first-pass review by DocIntel ({{ r.model.get("name", "clause model") }}); it is not legal advice. Clause categories: {{ attribution }}.</div>
</body></html>
"""


def _fmt(key: str, term: dict) -> str:
    v = term["value"]
    if key == "parties":
        return "; ".join(v)
    if key in ("renewal_term", "notice_period_to_terminate_renewal"):
        return f"{v} days" + (f" ({term.get('extra', {}).get('duration')})" if term.get("extra", {}).get("duration") else "")
    if key == "liability_cap":
        return " / ".join(str(x) for x in v.values()) or "see clause"
    if term.get("extra", {}).get("inferred_from"):
        return f"{v} (same as agreement date)"
    if term.get("extra", {}).get("computed"):
        return f"{v} ({term['extra']['computed']})"
    return str(v)


def render_html(review: Review, min_confidence: float = 0.5) -> str:
    """The report; clauses under `min_confidence` are counted, not listed (noise for a reader)."""
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    order = {name: i for i, name in enumerate(CATEGORY_NAMES)}
    grouped: dict[str, list] = {}
    point = review.operating_point or {}
    if point.get("requested_recall"):  # the reader chose the line: every clause above it is shown
        min_confidence = 0.0
    shown = [c for c in review.clauses if c["confidence"] >= min_confidence]
    for c in sorted(shown, key=lambda c: (order.get(c["category"], 99), c["char_start"])):
        grouped.setdefault(c["category"], []).append(c)
    counts = {s: sum(f.severity == s for f in review.findings) for s in ("high", "medium", "low")}
    return env.from_string(TEMPLATE).render(
        r=review, counts=counts, by_category=list(grouped.items()), n_categories=len(CATEGORY_NAMES),
        term_labels=TERM_LABELS, fmt=_fmt, attribution=ATTRIBUTION,
        hidden=len(review.clauses) - len(shown), min_conf=min_confidence, point=point,
        also_check=sorted(review.also_check, key=lambda c: -c["confidence"])[:50],
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_html(review: Review, path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, render_html(review).encode("utf-8"))
    return path
