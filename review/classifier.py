"""Clause classifiers: the `ClauseClassifier` seam and the shipped linear model.

The shipped model (`LinearClauseModel`) is a one-vs-rest logistic regression over
TF-IDF word unigrams + bigrams and a few layout features (relative position in the
document, length, granularity of the candidate, capitalisation, dates), followed by a
per-category Platt calibration fitted on held-out contracts. Inference needs only numpy;
the weights live in `review/model/clause_model.npz` (float16, no pickle) and the
vocabulary/config in `review/model/clause_model.json`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from review.segment import KINDS
from review.taxonomy import CATEGORY_NAMES, N_CATEGORIES

MODEL_DIR = Path(__file__).parent / "model"
MODEL_NPZ = "clause_model.npz"
MODEL_JSON = "clause_model.json"


@dataclass
class SegmentMeta:
    """Optional layout information about the segments being scored."""

    starts: Sequence[int]
    ends: Sequence[int]
    doc_length: int
    kinds: Sequence[str] | None = None


@runtime_checkable
class ClauseClassifier(Protocol):
    """Scores segments for the 41 CUAD categories.

    Returns an (n, 41) float array of calibrated probabilities, columns in
    `review.taxonomy.CATEGORY_NAMES` order. `meta` (positions, kinds) is optional;
    implementations that do not use layout may ignore it.
    """

    categories: tuple[str, ...]

    def score(self, segments: list[str], meta: SegmentMeta | None = None) -> np.ndarray: ...


# ---------------------------------------------------------------- features
_TOKEN = re.compile(r"[a-z]+|\d+")
_DATEISH = re.compile(r"\b(?:19|20)\d\d\b|\b(?:january|february|march|april|may|june|july|august|september|october|november|december)\b", re.I)

POS_EDGES = (0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95)
ABS_EDGES = (300, 1000, 3000)
LEN_EDGES = (1, 2, 3, 4, 6, 9, 14, 20, 30, 45, 70, 100, 150, 250)


def _dense_names() -> list[str]:
    names = [f"pos<{e}" for e in POS_EDGES] + ["pos>=last"]
    names += [f"abs<{e}" for e in ABS_EDGES]
    names += [f"len<={e}" for e in LEN_EDGES] + ["len>last"]
    names += [f"kind={k}" for k in KINDS]
    names += ["upper>0.8", "upper>0.5", "starts_upper", "ends_period", "has_date", "has_quote_paren", "bias"]
    return names


DENSE_NAMES = _dense_names()


def tokens(text: str) -> list[str]:
    toks = [("0" if t[0].isdigit() else t) for t in _TOKEN.findall(text.lower())]
    return toks + [a + " " + b for a, b in zip(toks, toks[1:])]


def dense_features(text: str, start: int | None, doc_length: int | None, kind: str | None) -> np.ndarray:
    v = np.zeros(len(DENSE_NAMES), dtype=np.float32)
    i = 0
    if start is not None and doc_length:
        rel = start / max(1, doc_length)
        b = next((k for k, e in enumerate(POS_EDGES) if rel < e), len(POS_EDGES))
        v[i + b] = 1.0
    i += len(POS_EDGES) + 1
    if start is not None:
        for k, e in enumerate(ABS_EDGES):
            if start < e:
                v[i + k] = 1.0
    i += len(ABS_EDGES)
    n = len(text.split())
    b = next((k for k, e in enumerate(LEN_EDGES) if n <= e), len(LEN_EDGES))
    v[i + b] = 1.0
    i += len(LEN_EDGES) + 1
    if kind in KINDS:
        v[i + KINDS.index(kind)] = 1.0
    i += len(KINDS)
    letters = [c for c in text if c.isalpha()]
    up = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
    v[i] = up > 0.8
    v[i + 1] = up > 0.5
    v[i + 2] = text[:1].isupper()
    v[i + 3] = text.rstrip("\"')”").endswith(".")
    v[i + 4] = bool(_DATEISH.search(text))
    v[i + 5] = ('("' in text) or ("(“" in text)
    v[i + 6] = 1.0
    return v


class Featurizer:
    """TF-IDF (sublinear tf, l2) over a fixed vocabulary + dense layout features."""

    def __init__(self, vocab: dict[str, int], idf: np.ndarray):
        self.vocab = vocab
        self.idf = np.asarray(idf, dtype=np.float32)
        self.n_sparse = len(vocab)
        self.n_features = self.n_sparse + len(DENSE_NAMES)

    def transform_coo(self, texts: Sequence[str], meta: SegmentMeta | None = None):
        """(rows, cols, vals) of the feature matrix, n_features columns."""
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        vocab, idf = self.vocab, self.idf
        for r, text in enumerate(texts):
            counts: dict[int, int] = {}
            for t in tokens(text):
                j = vocab.get(t)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if counts:
                js = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
                w = (1.0 + np.log(tf)) * idf[js]
                w /= max(float(np.linalg.norm(w)), 1e-12)
                rows.extend([r] * len(js))
                cols.extend(js.tolist())
                vals.extend(w.tolist())
            if meta is not None:
                d = dense_features(text, meta.starts[r], meta.doc_length, meta.kinds[r] if meta.kinds else None)
            else:
                d = dense_features(text, None, None, None)
            nz = np.nonzero(d)[0]
            rows.extend([r] * len(nz))
            cols.extend((nz + self.n_sparse).tolist())
            vals.extend(d[nz].tolist())
        return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


class LinearClauseModel:
    """The shipped classifier: linear scores + per-category Platt calibration."""

    def __init__(self, featurizer: Featurizer, weights: np.ndarray, bias: np.ndarray,
                 platt_a: np.ndarray, platt_b: np.ndarray, config: dict | None = None):
        self.featurizer = featurizer
        self.weights = np.asarray(weights, dtype=np.float32)  # (n_features, 41)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.platt_a = np.asarray(platt_a, dtype=np.float32)
        self.platt_b = np.asarray(platt_b, dtype=np.float32)
        self.config = config or {}
        self.categories = tuple(self.config.get("categories", CATEGORY_NAMES))
        # The second stage over the emitted candidates (review/rescoring.py), when trained.
        self.rescorer = None

    def decision(self, segments: Sequence[str], meta: SegmentMeta | None = None) -> np.ndarray:
        n = len(segments)
        out = np.tile(self.bias, (n, 1)).astype(np.float32)
        if n == 0:
            return out
        rows, cols, vals = self.featurizer.transform_coo(segments, meta)
        contrib = self.weights[cols] * vals[:, None]
        np.add.at(out, rows, contrib)
        return out

    def calibrate(self, decision: np.ndarray) -> np.ndarray:
        return _sigmoid(self.platt_a * decision + self.platt_b)

    def score(self, segments: list[str], meta: SegmentMeta | None = None) -> np.ndarray:
        return self.calibrate(self.decision(segments, meta))


def save_model(model: LinearClauseModel, out_dir: str | Path) -> dict:
    """Write clause_model.npz (float16 weights) + clause_model.json atomically; returns sizes."""
    import io

    from core.fileio import atomic_write_bytes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab_terms = sorted(model.featurizer.vocab, key=model.featurizer.vocab.get)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        weights=model.weights.astype(np.float16),
        bias=model.bias.astype(np.float32),
        idf=model.featurizer.idf.astype(np.float16),
        platt_a=model.platt_a.astype(np.float32),
        platt_b=model.platt_b.astype(np.float32),
    )
    cfg = dict(model.config)
    cfg["categories"] = list(model.categories)
    cfg["dense_features"] = DENSE_NAMES
    cfg["vocab"] = vocab_terms
    sizes = {}
    for name, data in ((MODEL_NPZ, buf.getvalue()), (MODEL_JSON, json.dumps(cfg, ensure_ascii=False).encode("utf-8"))):
        atomic_write_bytes(out / name, data)
        sizes[name] = len(data)
    return sizes


def load_model(model_dir: str | Path = MODEL_DIR) -> LinearClauseModel:
    model_dir = Path(model_dir)
    npz_path, json_path = model_dir / MODEL_NPZ, model_dir / MODEL_JSON
    if not npz_path.exists() or not json_path.exists():
        raise FileNotFoundError(f"clause model not found in {model_dir} (train it with `docintel review train --cuad PATH`)")
    cfg = json.loads(json_path.read_text(encoding="utf-8"))
    if cfg.get("dense_features") != DENSE_NAMES:
        raise ValueError("clause model was trained with different layout features; retrain it")
    with np.load(npz_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    vocab = {t: i for i, t in enumerate(cfg.pop("vocab"))}
    feat = Featurizer(vocab, arrays["idf"].astype(np.float32))
    model = LinearClauseModel(feat, arrays["weights"].astype(np.float32), arrays["bias"], arrays["platt_a"], arrays["platt_b"], cfg)
    from review.rescoring import load_rescorer

    model.rescorer = load_rescorer(model_dir)
    return model
