"""Adapters for the two contract data sets. Each reads a path it is given; nothing is
downloaded or bundled.

- `load_cuad`: CUAD v1 (`master_clauses.csv` + `txt/` and/or `pdf/`): per contract the gold
  clause fragments of the 41 categories and the normalised `<Category>-Answer` values.
- `load_contractnli`: ContractNLI JSON (`documents`, `labels`): NDAs with their text,
  span offsets, and per hypothesis the gold choice and evidence spans.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CuadContract",
    "NliAnnotation",
    "NliData",
    "NliDocument",
    "NLI_LABELS",
    "load_contractnli",
    "load_cuad",
]


# -- CUAD ---------------------------------------------------------------------------------
@dataclass
class CuadContract:
    id: str  # the CSV's Filename (the PDF's name); stable across runs
    txt_path: Path | None  # the matching txt/ file (the one review/train.py trains on)
    pdf_path: Path | None
    gold: dict[str, list[str]] = field(default_factory=dict)  # category -> gold fragments
    answers: dict[str, str] = field(default_factory=dict)  # category -> `<Category>-Answer`

    def path(self, source: str) -> Path | None:
        return self.pdf_path if source == "pdf" else self.txt_path


def _find_pdf(pdf_dir: Path, filename: str) -> Path | None:
    if not pdf_dir.is_dir():
        return None
    exact = pdf_dir / filename
    if exact.is_file():
        return exact
    # The CSV and the folder disagree on the extension's case for some files.
    low = filename.lower()
    return next((p for p in sorted(pdf_dir.iterdir()) if p.name.lower() == low), None)


def load_cuad(cuad_dir: str | os.PathLike) -> list[CuadContract]:
    """Every contract of `master_clauses.csv`, in CSV order.

    Gold fragments and the CSV -> txt/ file mapping come from `review.train.load_cuad`,
    so evaluation sees exactly the gold the clause model is trained on.
    """
    from review.taxonomy import CATEGORY_NAMES
    from review.train import load_cuad as train_load_cuad

    cuad_dir = Path(cuad_dir)
    if not (cuad_dir / "master_clauses.csv").is_file():
        raise FileNotFoundError(f"{cuad_dir}: no master_clauses.csv (expected a CUAD folder with master_clauses.csv and txt/ or pdf/)")
    csv.field_size_limit(sys.maxsize)
    with open(cuad_dir / "master_clauses.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_name = {}
    if (cuad_dir / "txt").is_dir():
        contracts, _report = train_load_cuad(cuad_dir)
        by_name = {c.name: c for c in contracts}
    out: list[CuadContract] = []
    for row in rows:
        fname = row["Filename"]
        answers = {cat: (row.get(f"{cat}-Answer") or "").strip() for cat in CATEGORY_NAMES}
        tc = by_name.get(fname)
        if tc is not None:
            gold, txt = tc.gold, Path(tc.txt_path)
        else:  # no txt/ folder (a PDF-only copy): parse the gold the same way
            gold, txt = _gold_fragments(row, CATEGORY_NAMES), None
        out.append(CuadContract(fname, txt, _find_pdf(cuad_dir / "pdf", fname), gold, answers))
    return out


def _gold_fragments(row: dict, categories) -> dict[str, list[str]]:
    import ast

    gold: dict[str, list[str]] = {}
    for cat in categories:
        frags: list[str] = []
        for item in ast.literal_eval(row.get(cat, "") or "[]"):
            for frag in str(item).split("<omitted>"):
                frag = frag.strip()
                if frag and frag not in frags:
                    frags.append(frag)
        gold[cat] = frags
    return gold


# -- ContractNLI ----------------------------------------------------------------------------
NLI_LABELS = ("Entailment", "Contradiction", "NotMentioned")


@dataclass
class NliAnnotation:
    choice: str  # one of NLI_LABELS
    spans: list[int]  # indices into the document's `spans` (the evidence)


@dataclass
class NliDocument:
    id: str  # the data set's document id, as text
    file_name: str
    text: str
    spans: list[tuple[int, int]]  # character offsets into `text`
    annotations: dict[str, NliAnnotation]  # hypothesis key (nda-N) -> gold

    def evidence(self, key: str) -> list[tuple[int, int]]:
        return [self.spans[i] for i in self.annotations[key].spans if 0 <= i < len(self.spans)]


@dataclass
class NliData:
    documents: list[NliDocument]
    hypotheses: dict[str, str]  # nda-N -> hypothesis text
    descriptions: dict[str, str]  # nda-N -> short description


def hypothesis_order(key: str) -> tuple[int, str]:
    tail = key.rsplit("-", 1)[-1]
    return (int(tail), key) if tail.isdigit() else (10**9, key)


def load_contractnli(path: str | os.PathLike) -> NliData:
    """ContractNLI JSON (`dev.json`, `test.json`, ...); `path` may also be its folder
    holding exactly one `.json` file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json"))
        if len(files) != 1:
            raise FileNotFoundError(f"{path}: expected one ContractNLI .json file, found {len(files)}; pass the file")
        path = files[0]
    raw = json.loads(path.read_text(encoding="utf-8"))
    labels = raw.get("labels") or {}
    docs: list[NliDocument] = []
    for d in raw["documents"]:
        sets = d.get("annotation_sets") or [{}]
        ann = {
            k: NliAnnotation(str(v["choice"]), [int(i) for i in v.get("spans") or []])
            for k, v in (sets[0].get("annotations") or {}).items()
        }
        docs.append(NliDocument(str(d["id"]), d.get("file_name") or f"{d['id']}.txt", d["text"],
                                [(int(a), int(b)) for a, b in d.get("spans") or []], ann))
    return NliData(
        docs,
        {k: v["hypothesis"] for k, v in sorted(labels.items(), key=lambda kv: hypothesis_order(kv[0]))},
        {k: v.get("short_description", k) for k, v in labels.items()},
    )
