"""What LLM explanations of review findings add, and what they cost.

    python -m bench.review_explain --cuad ../shared/data/cuad-dev [--contracts 10] [--seed 0] [--json OUT]

Reviews a seeded sample of CUAD contracts (txt) with the default playbook, asks the
configured LLM to explain every high-severity finding that has clause text, and reports:
how many explanations survive the support check, how many sentences were dropped as
unsupported, seconds per explanation, and the sentence length of the explanation against
the clause it explains (a plain-language proxy: shorter sentences read more easily).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.fileio import atomic_write_json
from core.settings import Settings
from generation.citations import split_sentences, strip_citations
from generation.factory import get_generator, local_model_name
from review.explain import explain_finding
from review.service import review_file


def words_per_sentence(text: str) -> float | None:
    sents = [strip_citations(s) for s in split_sentences(text)]
    sents = [s for s in sents if s.split()]
    return float(np.mean([len(s.split()) for s in sents])) if sents else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=Path, required=True)
    ap.add_argument("--contracts", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    settings = Settings()
    files = sorted((args.cuad / "txt").glob("*.txt"))
    sample = random.Random(args.seed).sample(files, min(args.contracts, len(files)))
    gen = get_generator(settings)
    rows = []
    for path in tqdm(sample, desc="contracts", file=sys.stderr):
        review = review_file(path)
        for f in review.findings:
            if f.severity != "high" or not any((c.get("text") or "").strip() for c in f.clauses):
                continue
            exp = explain_finding(f, gen, settings.citation_min_support)
            clause_text = " ".join(c["text"] for c in f.clauses[:3])
            rows.append({"contract": path.name, "rule": f.rule, "kept": bool(exp.text), "text": exp.text,
                         "kept_sentences": len(split_sentences(exp.text)) if exp.text else 0,
                         "dropped_sentences": exp.dropped_sentences, "seconds": exp.seconds,
                         "wps_explanation": words_per_sentence(exp.text) if exp.text else None,
                         "wps_clause": words_per_sentence(clause_text)})
    secs = [r["seconds"] for r in rows]
    kept_s = sum(r["kept_sentences"] for r in rows)
    dropped_s = sum(r["dropped_sentences"] for r in rows)
    paired = [(r["wps_explanation"], r["wps_clause"]) for r in rows if r["wps_explanation"] and r["wps_clause"]]
    summary = {
        "model": local_model_name(settings) or settings.llm_backend,
        "contracts": len(sample), "high_findings_with_clause_text": len(rows),
        "explained": sum(r["kept"] for r in rows),
        "explained_share": round(sum(r["kept"] for r in rows) / len(rows), 3) if rows else None,
        "sentences_kept": kept_s, "sentences_dropped": dropped_s,
        "dropped_share": round(dropped_s / (kept_s + dropped_s), 3) if kept_s + dropped_s else None,
        "seconds_p50": round(float(np.percentile(secs, 50)), 2) if secs else None,
        "seconds_p95": round(float(np.percentile(secs, 95)), 2) if secs else None,
        "words_per_sentence_explanation": round(float(np.mean([p[0] for p in paired])), 1) if paired else None,
        "words_per_sentence_clause": round(float(np.mean([p[1] for p in paired])), 1) if paired else None,
    }
    print(json.dumps(summary, indent=2))
    for r in rows[:8]:
        print(f"- {r['contract'][:50]} / {r['rule']}: {r['text'] or '(rejected)'}", file=sys.stderr)
    if args.json:
        atomic_write_json(args.json, {"summary": summary, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
