"""Second-stage scoring of a review's clause candidates.

The linear model scores every segment for every category on its own words. Whether a
candidate is a clause also depends on what the linear model said around it: how it ranks
among its category's candidates in this contract and how far below the best one it sits,
whether a more confident candidate of its category already covers it (the paragraph
around a flagged sentence rarely matches the lawyer's extent), and how the same words
scored for the other 40 categories (a licence to affiliates reads like a licence grant).
Gradient-boosted trees over those candidate features, fitted on held-out first-stage
scores (review/train.py), give each candidate its final confidence.

The trees are stored as plain arrays (`clause_rescorer.npz`, no pickle) and evaluated
with numpy; scikit-learn is needed only to train them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from review.clauses import span_iou
from review.segment import KINDS
from review.taxonomy import N_CATEGORIES

RESCORER_NPZ = "clause_rescorer.npz"
RESCORER_JSON = "clause_rescorer.json"

_FLOOR_LOGIT = -14.0  # the logit standing in for "no such candidate"

FEATURE_NAMES = (
    ["logit", "rank", "gap_to_best", "n_above_half", "best_logit",
     "covering_logit", "n_covering", "covering_iou", "inside_covering", "contains_covering", "covered_logit",
     "best_other_category_logit", "top_category", "log_chars", "position", "contract_best_logit"]
    + [f"logit:{i}" for i in range(N_CATEGORIES)]
    + [f"category={i}" for i in range(N_CATEGORIES)] + [f"kind={k}" for k in KINDS]
)


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class Candidate:
    category: int  # column of the probability matrix
    segment: int  # row of the probability matrix


def candidate_features(starts: np.ndarray, ends: np.ndarray, kinds: Sequence[str], probs: np.ndarray,
                       candidates: dict[int, list[tuple[int, float]]], doc_length: int) -> tuple[np.ndarray, list[Candidate]]:
    """Feature rows (FEATURE_NAMES) for every candidate; `candidates[category]` is
    select_candidates' list of (segment, probability) for that category, best first."""
    starts = np.asarray(starts)
    ends = np.asarray(ends)
    logits = _logit(probs)
    contract_best = logits.max(axis=0) if len(logits) else np.zeros(probs.shape[1])
    rows: list[np.ndarray] = []
    out: list[Candidate] = []
    for ci, chosen in candidates.items():
        if not chosen:
            continue
        js = np.array([j for j, _ in chosen])
        ps = np.array([p for _, p in chosen])
        lp = _logit(ps)
        ss, ee = starts[js], ends[js]
        n_half = int((ps > 0.5).sum())
        rank = np.arange(len(js))
        for r, j in enumerate(js):
            s, e = ss[r], ee[r]
            overlap = (ss < e) & (ee > s)
            overlap[r] = False
            above, below = overlap & (rank < r), overlap & (rank > r)
            if above.any():
                k = np.nonzero(above)[0][np.argmax(ps[above])]
                cover = [lp[k], above.sum(), span_iou(s, e, ss[k], ee[k]), float(ss[k] <= s and e <= ee[k]), float(s <= ss[k] and ee[k] <= e)]
            else:
                cover = [_FLOOR_LOGIT, 0, 0.0, 0.0, 0.0]
            seg = logits[j]
            others = np.delete(seg, ci)
            category = np.zeros(N_CATEGORIES)
            category[ci] = 1.0
            kind = np.array([float(kinds[j] == k) for k in KINDS])
            rows.append(np.concatenate([
                [lp[r], r, lp[r] - lp[0], n_half, lp[0]],
                cover,
                [lp[below].max() if below.any() else _FLOOR_LOGIT, others.max(), float(np.argmax(seg) == ci),
                 np.log1p(e - s), s / max(1, doc_length), contract_best[ci]],
                seg, category, kind,
            ]))
            out.append(Candidate(int(ci), int(j)))
    X = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    return X, out


class TreeEnsemble:
    """A binary gradient-boosted tree ensemble as arrays: numpy inference, no pickle.

    Nodes of all trees are concatenated; `roots[t]` is tree t's first node. An internal node
    sends a row left when its feature is <= its `threshold`."""

    def __init__(self, feature, threshold, left, right, value, is_leaf, roots, baseline: float,
                 config: dict | None = None):
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.value = np.asarray(value, dtype=np.float64)
        self.is_leaf = np.asarray(is_leaf, dtype=bool)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.baseline = float(baseline)
        self.config = config or {}

    def decision(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        n = len(X)
        raw = np.full(n, self.baseline)
        rows = np.arange(n)
        for root in self.roots:
            node = np.full(n, root)
            active = ~self.is_leaf[node]
            while active.any():
                a = rows[active]
                nd = node[active]
                go_left = X[a, self.feature[nd]] <= self.threshold[nd]
                node[active] = np.where(go_left, self.left[nd], self.right[nd])
                active = ~self.is_leaf[node]
            raw += self.value[node]
        return raw

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.decision(X), -40, 40)))


def export_hist_gbm(model, config: dict | None = None) -> TreeEnsemble:
    """A fitted binary sklearn HistGradientBoostingClassifier as a TreeEnsemble (its tree
    arrays; a test checks the two agree, so a change in sklearn's layout is caught)."""
    if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
        raise ValueError("categorical features are not exported: one-hot encode them")
    feats, thr, left, right, val, leaf, roots = [], [], [], [], [], [], []
    offset = 0
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        roots.append(offset)
        feats.append(nodes["feature_idx"])
        thr.append(nodes["num_threshold"])
        left.append(nodes["left"].astype(np.int64) + offset)
        right.append(nodes["right"].astype(np.int64) + offset)
        val.append(nodes["value"])
        leaf.append(nodes["is_leaf"].astype(bool))
        offset += len(nodes)
    return TreeEnsemble(np.concatenate(feats), np.concatenate(thr), np.concatenate(left), np.concatenate(right),
                        np.concatenate(val), np.concatenate(leaf), roots, float(np.ravel(model._baseline_prediction)[0]), config)


def fit_rescorer(X: np.ndarray, y: np.ndarray, seed: int = 0, config: dict | None = None) -> TreeEnsemble:
    """Fit the trees (scikit-learn, training only) and export them."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    # A fixed 300 trees, no early stopping: its validation split would hold back a tenth of
    # the candidates and make the result depend on that draw.
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.06, max_leaf_nodes=31, min_samples_leaf=40,
                                           l2_regularization=1.0, early_stopping=False, random_state=seed)
    model.fit(X, y)
    return export_hist_gbm(model, config)


def save_rescorer(ens: TreeEnsemble, out_dir: str | Path) -> dict:
    import io

    from core.fileio import atomic_write_bytes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, feature=ens.feature.astype(np.int16), threshold=ens.threshold, left=ens.left.astype(np.int32),
                        right=ens.right.astype(np.int32), value=ens.value, is_leaf=ens.is_leaf, roots=ens.roots.astype(np.int32), baseline=np.array([ens.baseline]))
    cfg = {**ens.config, "features": FEATURE_NAMES}
    sizes = {}
    for name, data in ((RESCORER_NPZ, buf.getvalue()), (RESCORER_JSON, json.dumps(cfg).encode("utf-8"))):
        atomic_write_bytes(out / name, data)
        sizes[name] = len(data)
    return sizes


def load_rescorer(model_dir: str | Path) -> TreeEnsemble | None:
    """The rescorer beside a clause model, or None when the model has none (first stage only)."""
    model_dir = Path(model_dir)
    if not (model_dir / RESCORER_NPZ).exists():
        return None
    cfg = json.loads((model_dir / RESCORER_JSON).read_text(encoding="utf-8"))
    if cfg.get("features") != FEATURE_NAMES:
        raise ValueError("the clause rescorer was trained on other candidate features; retrain it with `docintel review train`")
    with np.load(model_dir / RESCORER_NPZ, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    return TreeEnsemble(a["feature"], a["threshold"], a["left"], a["right"], a["value"], a["is_leaf"], a["roots"], float(a["baseline"][0]), cfg)
