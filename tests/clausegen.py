"""Clause models with hand-set weights: the shipped `LinearClauseModel` class (its features,
linear scores and calibration), whose outputs a test can work out in advance."""
from __future__ import annotations

import numpy as np

from review.classifier import DENSE_NAMES, Featurizer, LinearClauseModel
from review.taxonomy import CATEGORY_NAMES


def keyword_clause_model(keywords: dict[str, str], weight: float = 10.0, bias: float = -5.0,
                         long_penalty: float = 0.0, long_words: int = 14, dilute: tuple[str, ...] = ()) -> LinearClauseModel:
    """A segment holding keyword k (and no `dilute` word) scores sigmoid(weight + bias) for
    category keywords[k]; every other (segment, category) sigmoid(bias). A segment longer
    than `long_words` words loses `long_penalty` from its logits; `dilute` words carry no
    weight but share a segment's TF-IDF norm, so a passage that holds them scores lower."""
    vocab = {w: i for i, w in enumerate([*keywords, *dilute])}
    feat = Featurizer(vocab, np.ones(len(vocab)))
    n = len(CATEGORY_NAMES)
    weights = np.zeros((feat.n_features, n))
    for word, category in keywords.items():
        weights[vocab[word], CATEGORY_NAMES.index(category)] = weight
    for j, name in enumerate(DENSE_NAMES):
        if name == "len>last" or (name.startswith("len<=") and int(name[5:]) > long_words):
            weights[feat.n_sparse + j, :] = -long_penalty
    return LinearClauseModel(feat, weights, np.full(n, bias), np.ones(n), np.zeros(n))
