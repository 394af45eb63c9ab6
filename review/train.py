"""Train the clause classifier on CUAD (master_clauses.csv + txt/) with contract-level CV.

    from review.train import train
    metrics = train("/path/to/cuad-dev", folds=5, out_dir="review/model")

The data is read from `cuad_dir` and never copied; only the trained weights
(review/model/clause_model.npz + clause_model.json) and the model card are written.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import logging
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from review.taxonomy import ATTRIBUTION, CATEGORY_NAMES, N_CATEGORIES
from review.clauses import CANDIDATE_FLOOR, CANDIDATE_MAX_IOU, CANDIDATE_TOP_K, select_candidates

log = logging.getLogger(__name__)


@dataclass
class Contract:
    name: str  # the CSV's Filename (the PDF name)
    txt_path: str
    text: str
    gold: dict[str, list[str]] = field(default_factory=dict)  # category -> gold fragments


def _key(name: str) -> str:
    stem = os.path.splitext(name)[0]
    stem = unicodedata.normalize("NFKD", stem)
    return "".join(ch for ch in stem.lower() if ch.isalnum())


def load_cuad(cuad_dir: str | os.PathLike, limit: int | None = None) -> tuple[list[Contract], dict]:
    """Contracts with gold fragments per category; report of filename mapping misses."""
    cuad_dir = Path(cuad_dir)
    csv.field_size_limit(1 << 30)
    txt_dir = cuad_dir / "txt"
    txt_files = sorted(p.name for p in txt_dir.iterdir() if p.suffix.lower() == ".txt")
    by_stem = {os.path.splitext(n)[0]: n for n in txt_files}
    by_key: dict[str, list[str]] = {}
    for n in txt_files:
        by_key.setdefault(_key(n), []).append(n)
    contracts: list[Contract] = []
    report = {"rows": 0, "exact": 0, "fuzzy": [], "missing": [], "fragments": 0, "fragments_not_found": 0}
    with open(cuad_dir / "master_clauses.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            report["rows"] += 1
            fname = row["Filename"]
            stem = os.path.splitext(fname)[0]
            gold: dict[str, list[str]] = {}
            for cat in CATEGORY_NAMES:
                raw = row.get(cat, "") or "[]"
                items = ast.literal_eval(raw)
                frags: list[str] = []
                for item in items:
                    for frag in str(item).split("<omitted>"):
                        frag = frag.strip()
                        if frag and frag not in frags:
                            frags.append(frag)
                gold[cat] = frags
            candidates = [by_stem[stem]] if stem in by_stem else by_key.get(_key(fname), [])
            chosen = None
            for cand in candidates:
                text = (txt_dir / cand).read_text(encoding="utf-8")
                if all(f in text for fr in gold.values() for f in fr):
                    chosen = (cand, text)
                    break
            if chosen is None and candidates:
                cand = candidates[0]
                chosen = (cand, (txt_dir / cand).read_text(encoding="utf-8"))
            if chosen is None:
                report["missing"].append(fname)
                continue
            if stem in by_stem and chosen[0] == by_stem[stem]:
                report["exact"] += 1
            else:
                report["fuzzy"].append([fname, chosen[0]])
            c = Contract(fname, str(txt_dir / chosen[0]), chosen[1], gold)
            for fr in gold.values():
                report["fragments"] += len(fr)
                report["fragments_not_found"] += sum(1 for f in fr if f not in c.text)
            contracts.append(c)
            if limit and len(contracts) >= limit:
                break
    return contracts, report


# ------------------------------------------------------------------ dataset
from review.segment import segment as _segment  # noqa: E402
from review.classifier import (  # noqa: E402
    DENSE_NAMES, Featurizer, LinearClauseModel, SegmentMeta, save_model, tokens,
)
from review.cuad_metric import evaluate as cuad_evaluate, is_match, words  # noqa: E402

PARTIES = CATEGORY_NAMES.index("Parties")


@dataclass
class ContractSegments:
    contract: Contract
    starts: np.ndarray
    ends: np.ndarray
    kinds: list[str]
    texts: list[str]
    labels: np.ndarray  # (n, 41) bool


def _occurrences(text: str, frag: str) -> list[tuple[int, int]]:
    out, pos = [], text.find(frag)
    while pos >= 0 and len(out) < 20:
        out.append((pos, pos + len(frag)))
        pos = text.find(frag, pos + 1)
    return out


def label_segments(c: Contract) -> ContractSegments:
    segs = _segment(c.text)
    starts = np.array([s.char_start for s in segs], dtype=np.int64)
    ends = np.array([s.char_end for s in segs], dtype=np.int64)
    texts = [s.text for s in segs]
    words_of = [None] * len(segs)
    labels = np.zeros((len(segs), N_CATEGORIES), dtype=bool)
    for ci, cat in enumerate(CATEGORY_NAMES):
        containment = "both" if ci == PARTIES else None
        for g in c.gold[cat]:
            gw = words(g)
            for a, b in _occurrences(c.text, g):
                cand = np.nonzero((starts < b) & (ends > a))[0]
                for k in cand:
                    if labels[k, ci]:
                        continue
                    if words_of[k] is None:
                        words_of[k] = words(texts[k])
                    w = words_of[k]
                    if containment is None and (len(w) < 0.5 * len(gw) or len(gw) < 0.5 * len(w)):
                        continue
                    if is_match(texts[k], g, containment):
                        labels[k, ci] = True
    return ContractSegments(c, starts, ends, [s.kind for s in segs], texts, labels)


def build_vocab(seg_sets: list[ContractSegments], min_df: int = 3, min_pos_df: int = 2, max_terms: int = 40000):
    """Vocabulary: terms in >= min_df segments overall and >= min_pos_df positive segments."""
    df: dict[str, int] = {}
    pos_df: dict[str, int] = {}
    n = 0
    for cs in seg_sets:
        anypos = cs.labels.any(axis=1)
        for text, p in zip(cs.texts, anypos):
            n += 1
            for t in set(tokens(text)):
                df[t] = df.get(t, 0) + 1
                if p:
                    pos_df[t] = pos_df.get(t, 0) + 1
    terms = [t for t, d in df.items() if d >= min_df and pos_df.get(t, 0) >= min_pos_df]
    terms.sort(key=lambda t: -pos_df[t])
    terms = sorted(terms[:max_terms])
    vocab = {t: i for i, t in enumerate(terms)}
    idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in terms], dtype=np.float32)
    return vocab, idf


import math  # noqa: E402


def featurize(feat: Featurizer, cs: ContractSegments):
    import scipy.sparse as sp

    meta = SegmentMeta(cs.starts, cs.ends, len(cs.contract.text), cs.kinds)
    r, c, v = feat.transform_coo(cs.texts, meta)
    return sp.csr_matrix((v, (r, c)), shape=(len(cs.texts), feat.n_features), dtype=np.float32)


def count_matrix(seg_sets: list[ContractSegments], min_df: int = 3):
    """Raw term counts (CSR, int) for every segment of every contract, over terms with df >= min_df."""
    import scipy.sparse as sp

    term_id: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    data: list[int] = []
    for cs in seg_sets:
        for text in cs.texts:
            counts: dict[int, int] = {}
            for t in tokens(text):
                j = term_id.setdefault(t, len(term_id))
                counts[j] = counts.get(j, 0) + 1
            indices.extend(counts.keys())
            data.extend(counts.values())
            indptr.append(len(indices))
    X = sp.csr_matrix((np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                      shape=(len(indptr) - 1, len(term_id)))
    df = np.bincount(X.indices, minlength=X.shape[1])
    keep = np.nonzero(df >= min_df)[0]
    terms = sorted(term_id, key=term_id.get)
    X = X[:, keep].tocsr()
    return X, [terms[i] for i in keep], df[keep]


def dense_matrix(seg_sets: list[ContractSegments]) -> np.ndarray:
    from review.classifier import dense_features

    rows = []
    for cs in seg_sets:
        n = len(cs.contract.text)
        for text, s, k in zip(cs.texts, cs.starts, cs.kinds):
            rows.append(dense_features(text, int(s), n, k))
    return np.vstack(rows).astype(np.float32)


def tfidf(X_counts, cols: np.ndarray, idf: np.ndarray):
    """Sublinear tf * idf over the chosen columns, rows L2-normalised (as Featurizer does)."""
    import scipy.sparse as sp

    X = X_counts[:, cols].tocsr(copy=True)
    X.data = (1.0 + np.log(X.data)) * idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X = sp.diags(1.0 / norms) @ X
    return X.tocsr().astype(np.float32)


def fit_linear(X, Y: np.ndarray, C: float, n_jobs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest L2 logistic regression (liblinear dual; threads: liblinear releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.linear_model import LogisticRegression

    W = np.zeros((X.shape[1], Y.shape[1]), dtype=np.float32)
    b = np.full(Y.shape[1], -10.0, dtype=np.float32)
    if hasattr(X, "sum_duplicates"):
        # sklearn canonicalises a sparse matrix in place on first use; two threads doing it
        # at once corrupt it ("indices array has fewer than nnz elements"). Do it once here.
        X = X.tocsr()
        X.sum_duplicates()
        X.sort_indices()

    def one(j: int) -> None:
        y = Y[:, j]
        if y.sum() < 2:
            return
        clf = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=300, tol=1e-3)
        clf.fit(X, y)
        W[:, j] = clf.coef_[0]
        b[j] = clf.intercept_[0]

    with ThreadPoolExecutor(max_workers=n_jobs) as ex:
        list(ex.map(one, range(Y.shape[1])))
    return W, b


def fit_platt(dec: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    a = np.ones(Y.shape[1], dtype=np.float32)
    b = np.zeros(Y.shape[1], dtype=np.float32)
    for j in range(Y.shape[1]):
        y = Y[:, j]
        if y.sum() < 2:
            b[j] = -20.0
            continue
        clf = LogisticRegression(C=100.0, solver="lbfgs")
        clf.fit(dec[:, j:j + 1], y)
        a[j] = clf.coef_[0, 0]
        b[j] = clf.intercept_[0]
    return a, b


def chosen_candidates(cs: ContractSegments, probs: np.ndarray, top_k: int, min_prob: float,
                      max_iou: float | None = CANDIDATE_MAX_IOU) -> dict[int, list[tuple[int, float]]]:
    """Per category column, the (segment, probability) candidates a review emits, best first."""
    return {ci: select_candidates(cs.starts, cs.ends, probs[:, ci], top_k, min_prob, max_iou)
            for ci in range(len(CATEGORY_NAMES))}


def predictions_for(cs: ContractSegments, probs: np.ndarray, top_k: int, min_prob: float,
                    max_iou: float | None = CANDIDATE_MAX_IOU) -> dict:
    return {(cs.contract.name, CATEGORY_NAMES[ci]): [(cs.texts[i], p) for i, p in sel]
            for ci, sel in chosen_candidates(cs, probs, top_k, min_prob, max_iou).items()}


@dataclass
class CandidateSet:
    """Every candidate the first stage emitted on held-out contracts: rescorer features,
    whether it matches a gold clause of its category, and where it came from."""

    X: np.ndarray
    y: np.ndarray
    contract: np.ndarray  # index into the contract list
    keys: list  # (contract name, category)
    texts: list[str]
    spans: np.ndarray  # (n, 2) character offsets in the contract


def candidate_set(seg_sets: list[ContractSegments], probs: np.ndarray, cfg: dict) -> CandidateSet:
    from review.rescoring import candidate_features

    Xs, ys, owners, keys, texts, spans = [], [], [], [], [], []
    start = 0
    for i, cs in enumerate(seg_sets):
        P = probs[start:start + len(cs.texts)]
        start += len(cs.texts)
        X, cands = candidate_features(cs.starts, cs.ends, cs.kinds, P,
                                      chosen_candidates(cs, P, cfg["top_k"], cfg["min_prob"], cfg["max_iou"]),
                                      len(cs.contract.text))
        for c in cands:
            cat = CATEGORY_NAMES[c.category]
            containment = "both" if c.category == PARTIES else None
            text = cs.texts[c.segment]
            ys.append(any(is_match(text, g, containment) for g in cs.contract.gold[cat] if g))
            keys.append((cs.contract.name, cat))
            texts.append(text)
            spans.append((cs.starts[c.segment], cs.ends[c.segment]))
        Xs.append(X)
        owners.append(np.full(len(cands), i))
    return CandidateSet(np.vstack(Xs), np.array(ys, dtype=bool), np.concatenate(owners), keys, texts,
                        np.array(spans, dtype=np.int64).reshape(-1, 2))


def rescored_predictions(cands: CandidateSet, confidence: np.ndarray, cfg: dict) -> dict:
    """What a review emits once the rescorer has spoken: per (contract, category) its
    candidates selected again under the new confidences (detect_clauses does the same)."""
    rows: dict = {}
    for r, key in enumerate(cands.keys):
        rows.setdefault(key, []).append(r)
    preds: dict = {}
    for key, rs in rows.items():
        rs = np.array(rs)
        sel = select_candidates(cands.spans[rs, 0], cands.spans[rs, 1], confidence[rs], cfg["top_k"], cfg["min_prob"],
                                cfg["max_iou"])
        preds[key] = [(cands.texts[rs[k]], p) for k, p in sel]
    return preds


def gold_and_predictions(seg_sets: list[ContractSegments], probs: np.ndarray, cfg: dict) -> tuple[dict, dict]:
    """Gold fragments and the first stage's emitted candidates per (contract, category)."""
    gold, preds = {}, {}
    start = 0
    for cs in seg_sets:
        for cat in CATEGORY_NAMES:
            gold[(cs.contract.name, cat)] = cs.contract.gold[cat]
        preds.update(predictions_for(cs, probs[start:start + len(cs.texts)], cfg["top_k"], cfg["min_prob"], cfg["max_iou"]))
        start += len(cs.texts)
    return gold, preds


@dataclass
class RescorerCV:
    cv_first: dict  # the first stage's held-out metrics (no curve)
    cv: dict  # the held-out metrics of `predictions`, with their curve
    candidates: CandidateSet | None  # None: the rescorer is not kept
    predictions: dict  # what the kept model emits on held-out contracts
    fold_rescorers: list  # rescorer k: fitted without fold k's contracts (empty when not kept)


def cross_validated_rescorer(seg_sets: list[ContractSegments], probs: np.ndarray, gold: dict, first: dict,
                             fold_of: np.ndarray, folds: int, cfg: dict) -> RescorerCV:
    """The rescorer cross-validated over the first stage's folds, on the candidates it
    emitted for held-out contracts (so it learns from scores like a review's). With
    cfg["rescore"] "auto" it is kept only where it pays on the held-out folds: it needs
    data, and on a dozen contracts it is worse than the linear model alone."""
    cv_first_curve = cuad_evaluate(first, gold)
    cv_first = {k: v for k, v in cv_first_curve.items() if k != "curve"}
    if not cfg["rescore"]:
        return RescorerCV(cv_first, cv_first_curve, None, first, [])
    from review.rescoring import fit_rescorer

    t0 = time.time()
    cands = candidate_set(seg_sets, probs, cfg)
    conf = np.zeros(len(cands.y))
    fitted = []
    for k in range(folds):
        held = fold_of[cands.contract] == k
        fitted.append(fit_rescorer(cands.X[~held], cands.y[~held], cfg["seed"]))
        conf[held] = fitted[-1].predict_proba(cands.X[held])
        log.info("rescorer fold %d/%d: %d candidates, %.1fs", k + 1, folds, int((~held).sum()), time.time() - t0)
    rescored = rescored_predictions(cands, conf, cfg)
    cv_rescored = cuad_evaluate(rescored, gold)
    keep = cfg["rescore"] is True or all(cv_rescored[m] >= cv_first[m] for m in ("aupr", "prec_at_80_recall"))
    log.info("rescorer: held-out AUPR %.3f (first stage %.3f), P@80R %.3f (%.3f): %s", cv_rescored["aupr"],
             cv_first["aupr"], cv_rescored["prec_at_80_recall"], cv_first["prec_at_80_recall"], "kept" if keep else "dropped")
    if keep:
        return RescorerCV(cv_first, cv_rescored, cands, rescored, fitted)
    return RescorerCV(cv_first, cv_first_curve, None, first, [])


def _sanitize(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) else round(obj, 6)
    if isinstance(obj, dict):
        return {str(k): _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    if isinstance(obj, (np.floating,)):
        return _sanitize(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj


# The shipped model (review/model) was trained with exactly these defaults.
# top_k and min_prob: the candidates a review emits, on which held-out recall is measured.
DEFAULTS = {"C": 2.0, "neg_rate": 0.04, "min_df": 3, "min_pos_df": 2, "max_terms": 40000, "top_k": CANDIDATE_TOP_K,
            "min_prob": CANDIDATE_FLOOR, "max_iou": CANDIDATE_MAX_IOU, "seed": 0, "rescore": "auto"}


def train(cuad_dir, folds: int = 5, out_dir=None, limit: int | None = None, write: bool = True, **params) -> dict:
    """Contract-level K-fold CV with the CUAD metric, then fit on all contracts and write the model.

    Returns a JSON-able dict: data report, CV metrics (pooled and per category), timings,
    segmentation upper-bound recall, artifact sizes.
    """
    cfg = {**DEFAULTS, **params}
    t0 = time.time()
    contracts, report = load_cuad(cuad_dir, limit=limit)
    rng = np.random.default_rng(cfg["seed"])
    seg_sets = [label_segments(c) for c in contracts]
    t_seg = time.time() - t0
    log.info("segmented and labelled %d contracts in %.1fs", len(contracts), t_seg)
    Xc, terms, df = count_matrix(seg_sets, cfg["min_df"])
    D = dense_matrix(seg_sets)
    Y = np.vstack([cs.labels for cs in seg_sets])
    owner = np.concatenate([np.full(len(cs.texts), i) for i, cs in enumerate(seg_sets)])
    n_seg = Xc.shape[0]
    idf_all = np.log((1 + n_seg) / (1 + df)).astype(np.float32) + 1.0
    anypos = Y.any(axis=1)
    log.info("matrix %s, %d positives, %.1fs", Xc.shape, int(anypos.sum()), time.time() - t0)

    def vocab_cols(train_rows: np.ndarray) -> np.ndarray:
        pos_rows = train_rows[anypos[train_rows]]
        pos_df = np.bincount(Xc[pos_rows].indices, minlength=Xc.shape[1])
        cols = np.nonzero(pos_df >= cfg["min_pos_df"])[0]
        if len(cols) > cfg["max_terms"]:
            cols = np.sort(cols[np.argsort(-pos_df[cols])[: cfg["max_terms"]]])
        return cols

    def design(rows: np.ndarray, cols: np.ndarray):
        import scipy.sparse as sp

        return sp.hstack([tfidf(Xc[rows], cols, idf_all[cols]), sp.csr_matrix(D[rows])], format="csr")

    def sample_rows(rows: np.ndarray) -> np.ndarray:
        keep = anypos[rows] | (rng.random(len(rows)) < cfg["neg_rate"])
        return rows[keep]

    # ---------------------------------------------------------------- CV
    order = rng.permutation(len(seg_sets))
    fold_of = np.empty(len(seg_sets), dtype=int)
    fold_of[order] = np.arange(len(seg_sets)) % folds
    oof = np.zeros(Y.shape, dtype=np.float32)
    for k in range(folds):
        tr_c = fold_of[owner] != k
        tr_rows = np.nonzero(tr_c)[0]
        te_rows = np.nonzero(~tr_c)[0]
        cols = vocab_cols(tr_rows)
        fit_rows = sample_rows(tr_rows)
        W, b = fit_linear(design(fit_rows, cols), Y[fit_rows], cfg["C"])
        oof[te_rows] = design(te_rows, cols) @ W + b
        log.info("fold %d/%d: %d terms, %d rows, %.1fs", k + 1, folds, len(cols), len(fit_rows), time.time() - t0)
    # calibration: per category, fitted on the other folds' held-out scores
    probs = np.zeros_like(oof)
    for k in range(folds):
        te = fold_of[owner] == k
        a, bb = fit_platt(oof[~te], Y[~te])
        probs[te] = 1.0 / (1.0 + np.exp(-np.clip(a * oof[te] + bb, -40, 40)))
    gold, preds = gold_and_predictions(seg_sets, probs, cfg)
    rcv = cross_validated_rescorer(seg_sets, probs, gold, preds, fold_of, folds, cfg)
    cv_first, cands, preds = rcv.cv_first, rcv.candidates, rcv.predictions
    rescorer = None
    cv = dict(rcv.cv)  # evaluated once, where the rescorer was kept or dropped
    curve = cv.pop("curve")
    # Held-out precision and recall at each confidence threshold: what an operating point
    # (`review --recall 0.8`) costs, read off contracts the model did not see.
    operating_points = [
        {"threshold": t, "recall": round(r, 4), "precision": round(p, 4)}
        for t, p, r in zip(curve["thresholds"], curve["precision"], curve["recall"])
        if r == r and p == p  # NaN: nothing kept at that threshold
    ]
    cv_official = cuad_evaluate(preds, gold, parties_containment="gold_in_pred")
    # upper bound: some segment matches the gold clause (segment-level labels cover overlapping spans)
    ub = upper_bound(seg_sets)
    result = {
        "data": {k: (len(v) if isinstance(v, list) and k == "missing" else v) for k, v in report.items()},
        "config": cfg,
        "folds": folds,
        "contracts": len(seg_sets),
        "segments": int(n_seg),
        "cv": cv,
        "cv_first_stage": {k: cv_first[k] for k in ("aupr", "prec_at_80_recall", "prec_at_90_recall")},
        "rescorer": cands is not None,
        "operating_points": operating_points,
        "cv_parties_gold_in_pred": {k: cv_official[k] for k in ("aupr", "prec_at_80_recall", "prec_at_90_recall")},
        "segmentation_upper_bound": ub,
        "seconds": {"segment_and_label": round(t_seg, 1)},
    }
    log.info("CV AUPR %.3f P@80R %.3f P@90R %.3f", cv["aupr"], cv["prec_at_80_recall"], cv["prec_at_90_recall"])

    # ------------------------------------------------------------ final model
    all_rows = np.arange(n_seg)
    cols = vocab_cols(all_rows)
    fit_rows = sample_rows(all_rows)
    W, b = fit_linear(design(fit_rows, cols), Y[fit_rows], cfg["C"])
    a, bb = fit_platt(oof, Y)  # Platt on held-out scores of the CV models
    vocab = {terms[c]: i for i, c in enumerate(cols)}
    feat = Featurizer(vocab, idf_all[cols])
    config = {
        "name": "cuad-tfidf-logreg+rescorer" if cands is not None else "cuad-tfidf-logreg", "trained": time.strftime("%Y-%m-%d"), "attribution": ATTRIBUTION,
        "training_contracts": len(seg_sets), "params": cfg,
        "policy": {"top_k": cfg["top_k"], "min_prob": cfg["min_prob"], "max_iou": cfg["max_iou"]},
        "cv": {k: cv[k] for k in ("aupr", "prec_at_80_recall", "prec_at_90_recall")},
        "operating_points": operating_points,
    }
    model = LinearClauseModel(feat, W, b, a, bb, config)
    if cands is not None:
        from review.rescoring import fit_rescorer

        # fitted on every contract's held-out candidates: the final linear model's scores on
        # new contracts look like these, not like its (optimistic) scores on its own data
        rescorer = fit_rescorer(cands.X, cands.y, cfg["seed"], {"trained": config["trained"], "candidates": len(cands.y)})
    result["seconds"]["total"] = round(time.time() - t0, 1)
    if write:
        from review.rescoring import RESCORER_JSON, RESCORER_NPZ, save_rescorer

        out = Path(out_dir) if out_dir else Path(__file__).parent / "model"
        result["artifact_bytes"] = save_model(model, out)
        if rescorer is not None:
            result["artifact_bytes"].update(save_rescorer(rescorer, out))
        else:  # a first-stage-only model must not be read with an older rescorer
            for name in (RESCORER_NPZ, RESCORER_JSON):
                (out / name).unlink(missing_ok=True)
        result["model_dir"] = str(out)
    return _sanitize(result)


def upper_bound(seg_sets: list[ContractSegments]) -> dict:
    """Fraction of gold fragments matched (CUAD rule) by at least one segment, per category and pooled."""
    hit = np.zeros(N_CATEGORIES)
    tot = np.zeros(N_CATEGORIES)
    for cs in seg_sets:
        for ci, cat in enumerate(CATEGORY_NAMES):
            cont = "both" if ci == PARTIES else None
            pos = np.nonzero(cs.labels[:, ci])[0]
            for g in cs.contract.gold[cat]:
                tot[ci] += 1
                if any(is_match(cs.texts[k], g, cont) for k in pos):
                    hit[ci] += 1
    per = {cat: (hit[i] / tot[i] if tot[i] else None) for i, cat in enumerate(CATEGORY_NAMES)}
    return {"pooled": float(hit.sum() / max(1, tot.sum())), "per_category": per, "n_gold": int(tot.sum())}
