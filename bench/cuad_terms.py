"""Key-term accuracy on CUAD (`<Category>-Answer` columns as gold).

    python -m bench.cuad_terms --cuad ../shared/data/cuad-dev [--limit N] [--json OUT]

The scoring rules are documented and implemented in evaluation/cuad_terms.py (shared with
`docintel eval run --suite cuad`).
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from core.fileio import atomic_write_json
from evaluation.cuad_terms import TERM_COLUMNS, score
from review.terms import extract_terms

csv.field_size_limit(sys.maxsize)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", required=True, type=Path)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--show-errors", type=str, default="", help="term name whose errors to print")
    ap.add_argument("--half", choices=("A", "B"), help="only one half of the contracts: file names sorted, shuffled "
                    "with --split-seed, first half = A (the half the date rules were designed on), rest = B")
    ap.add_argument("--split-seed", type=int, default=20240605)
    args = ap.parse_args(argv)
    with open(args.cuad / "master_clauses.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[: args.limit]
    if args.half:
        names = sorted(r["Filename"] for r in rows if (args.cuad / "txt" / (Path(r["Filename"]).stem + ".txt")).exists())
        random.Random(args.split_seed).shuffle(names)
        half_a = set(names[: len(names) // 2])
        rows = [r for r in rows if (r["Filename"] in half_a) == (args.half == "A")]
    results = defaultdict(list)
    t0 = time.perf_counter()
    for row in tqdm(rows, desc="contracts", file=sys.stderr):
        txt = args.cuad / "txt" / (Path(row["Filename"]).stem + ".txt")
        if not txt.exists():
            continue
        text = txt.read_text(encoding="utf-8", errors="replace")
        terms = extract_terms(text)
        for k, ok in score(row, terms).items():
            if ok is not None:
                results[k].append(ok)
                if k == args.show_errors and not ok:
                    t = terms[k]
                    col = TERM_COLUMNS[k]
                    print(f"{txt.name[:50]:50} gold={row[col]!r:40} pred={(t.value, t.text[:80]) if t else None}", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    report = {k: {"accuracy": round(sum(v) / len(v), 4), "n": len(v)} for k, v in sorted(results.items())}
    report["_seconds_per_contract"] = round(elapsed / max(1, len(rows)), 4)
    for k, v in report.items():
        print(f"{k:40} {v}")
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
