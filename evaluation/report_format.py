"""Numbers, times, settings and item outputs as an evaluation report shows them, and which
way a metric is better (pure functions: no plotting, no templates)."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

MAX_OUTPUT_CHARS = 3000
MAX_ERROR_CHARS = 2000

# Metric-name words meaning "lower is better" (latency, error rates...): used to call a
# significant delta better or worse, and to pick the worst items. A heuristic: the Suite
# seam carries no direction.
LOWER_IS_BETTER_WORDS = {
    "latency", "seconds", "sec", "s", "ms", "time", "error", "errors", "loss", "ece", "brier",
    "wer", "cer", "failed", "failures", "hallucination", "hallucinated", "unsupported",
}
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key|credential", re.I)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_FALSEY = {"", "0", "false", "no", "off", "none"}


def fmt_num(v: Any, digits: int = 4) -> str:
    """A number for a reader: `digits` significant digits, None as an en dash."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 10 ** digits:
            return f"{v:,.0f}"
        if a < 1e-4:
            return f"{v:.2e}"
        return f"{v:.{digits}g}"
    return str(v)


def fmt_score(v: Any) -> str:
    """Per-item scores: fixed 3 decimals for [0, 1] scores so a column lines up."""
    if isinstance(v, float) and math.isfinite(v) and abs(v) <= 1:
        return f"{v:.3f}"
    return fmt_num(v, 3)


def fmt_delta(v: Any) -> str:
    s = fmt_num(v)
    return "+" + s if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else s.replace("-", "−", 1)


def fmt_seconds(v: Any) -> str:
    if v is None:
        return "–"
    s = float(v)
    if s < 60:
        return f"{s:.3g} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(round(s % 60))} s"
    return f"{int(s // 3600)} h {int(round(s % 3600 / 60)):02d} min"


def fmt_time(v: Any) -> str:
    if not v:
        return "–"
    try:
        dt = datetime.fromisoformat(str(v))
    except ValueError:
        return str(v)
    return dt.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if dt.utcoffset() is not None and not dt.utcoffset() else "")


def short(v: Any, n: int = 12) -> str:
    return str(v)[:n] if v else "–"


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def lower_is_better(metric: str) -> bool:
    return bool(set(re.split(r"[^a-z0-9]+", metric.lower())) & LOWER_IS_BETTER_WORDS)


def redact(key: str, value: Any) -> Any:
    """Reports get forwarded: never print a password or token from the captured settings."""
    if value in (None, "", False):
        return value
    if _SECRET_KEY.search(key):
        return "••••••"
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1••••••@", value)
    return value


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def fmt_value(key: str, v: Any) -> str:
    """A configuration value: numbers formatted, containers as compact JSON, secrets hidden."""
    v = redact(key, v)
    if v is None:
        return "–"
    if is_num(v) or isinstance(v, bool):
        return fmt_num(v) if isinstance(v, float) else str(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() not in _FALSEY
    return bool(v)


def in_sample(run: dict[str, Any]) -> bool:
    """Scores measured on data the model was fitted on (flagged by the suite or an option)."""
    for src in (run.get("metrics") or {}, run.get("options") or {}):
        if any("in_sample" in str(k).lower() and _truthy(v) for k, v in src.items()):
            return True
    return False


def clip_error(text: str) -> str:
    # the head names the exception, the tail is where a traceback says what failed
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[:300] + "\n…\n" + text[-(MAX_ERROR_CHARS - 300):]


def _pretty(o: Any, ind: int = 0) -> str:
    """JSON with short containers kept on one line (indent=1 spends a line per list entry)."""
    flat = json.dumps(o, ensure_ascii=False, default=str)
    if len(flat) <= 72 - ind or not isinstance(o, (dict, list)) or not o:
        return flat
    if isinstance(o, list) and not any(isinstance(v, (dict, list)) for v in o):
        return flat  # a list of scalars reads fine wrapped (the <pre> wraps)
    pad = " " * (ind + 2)
    if isinstance(o, dict):
        body = ",\n".join(f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_pretty(v, ind + 2)}" for k, v in o.items())
        return "{\n" + body + "\n" + " " * ind + "}"
    return "[\n" + ",\n".join(pad + _pretty(v, ind + 2) for v in o) + "\n" + " " * ind + "]"


def output_json(output: Any) -> str:
    text = _pretty(output)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n… (truncated)"


def verdict(r: dict[str, Any]) -> str | None:
    """'better' / 'worse' when the CI excludes 0, else None."""
    lo, hi, d = r.get("ci_low"), r.get("ci_high"), r.get("delta")
    sig = r.get("significant")
    if sig is None:
        sig = is_num(lo) and is_num(hi) and (lo > 0 or hi < 0)
    if not sig or not is_num(d) or d == 0:
        return None
    return "better" if (d > 0) != lower_is_better(str(r.get("metric", ""))) else "worse"
