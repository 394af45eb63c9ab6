"""Sentences of a chunk and their embeddings, stored beside the chunk for the reranker.

The sentence reranker (retrieval/rerank.py) scores a candidate chunk by its best-matching
sentence. Embedding those sentences at query time costs seconds for a cold candidate list,
so ingestion embeds them once and the chunk row keeps them (`chunks.sentence_vectors`):
float16, row-major (n_sentences, dim), unit length like every other vector here.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from core.text import CHUNK
from ingestion.embedding import Embedder

_WORDS = re.compile(r"\w+")
MIN_SENTENCE_WORDS = 4  # shorter pieces (headings, list labels) are joined to the next one
MAX_SENTENCES = 48  # per chunk; a 220-token chunk rarely has more
STORED_DTYPE = np.float16  # half the bytes; cosine rankings are unchanged at this precision
# Sentence vectors pooled from the chunk pass's token states where the embedder can
# (embed_chunks). Off: measured against embedding every sentence on its own, it lost 2.5
# points of E-Manual section recall@5 (outside the run-to-run noise; docs/benchmarks.md).
POOLED = False
# Sentence vectors made in this process (for benches): from the chunk pass (pooled, or a
# one-sentence chunk's own vector) or embedded on their own.
STATS = {"pooled": 0, "separate": 0, "deduplicated": 0}


def _groups(text: str) -> list[list[tuple[int, int]]]:
    """The chunk's sentence pieces (CHUNK spans), grouped into the sentences split_sentences
    returns: fragments under MIN_SENTENCE_WORDS words go with the next piece (the last with
    the one before), and past MAX_SENTENCES the rest is one sentence."""
    out: list[list[tuple[int, int]]] = []
    carry: list[tuple[int, int]] = []
    for span in CHUNK.spans(text):
        group = carry + [span]
        if len(_WORDS.findall(" ".join(text[s:e] for s, e in group))) < MIN_SENTENCE_WORDS:
            carry = group
            continue
        carry = []
        out.append(group)
    if carry:
        if out:
            out[-1] = out[-1] + carry
        else:
            out.append(carry)
    if len(out) > MAX_SENTENCES:
        out = out[: MAX_SENTENCES - 1] + [[span for g in out[MAX_SENTENCES - 1:] for span in g]]
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of a chunk; fragments under MIN_SENTENCE_WORDS words are joined
    to the following piece, so a heading travels with the text under it."""
    return [" ".join(text[s:e] for s, e in g) for g in _groups(text)]


def _embed_unique(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """embed_documents of `texts`, each distinct text once: consecutive chunks overlap
    (chunk_overlap_tokens), so the sentences there recur, and a sentence embedded on its
    own has one vector whatever chunk it is in."""
    if not texts:
        return np.zeros((0, embedder.dim), np.float32)
    index: dict[str, int] = {}
    rows = [index.setdefault(t, len(index)) for t in texts]
    STATS["deduplicated"] += len(texts) - len(index)
    return np.asarray(embedder.embed_documents(list(index)), dtype=np.float32)[rows]


def _separately(embedder: Embedder, groups: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """Each group's texts embedded on their own, all in one batch."""
    vecs = _embed_unique(embedder, [s for g in groups for s in g])
    out, start = [], 0
    for g in groups:
        out.append(np.ascontiguousarray(vecs[start: start + len(g)]))
        start += len(g)
    return out


def embed_chunks(embedder: Embedder, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each text's vector and its sentences' vectors ((n_sentences, dim) float32 unit rows).

    A one-sentence text's sentence vector is the text's own vector (the same tokens). With
    POOLED and an embedder that can (the int8 ONNX one: `embed_with_spans`), one forward
    pass per text: each other sentence's vector is the mean of that pass's token states
    over the sentence's tokens; a sentence past the model window (the text was truncated)
    is embedded on its own. Else (torch, or POOLED off) every sentence is embedded on its own."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, embedder.dim), np.float32), []
    groups = [_groups(t) for t in texts]
    multi = [i for i, g in enumerate(groups) if len(g) > 1]
    if POOLED and hasattr(embedder, "embed_with_spans"):
        spans = [[] if len(g) <= 1 else [(p[0][0], p[-1][1]) for p in g] for g in groups]
        vecs, pooled = embedder.embed_with_spans(texts, spans)
        vecs = np.asarray(vecs, dtype=np.float32)
    else:
        vecs, pooled = np.asarray(embedder.embed_documents(texts), dtype=np.float32), None
    out = [vecs[i: i + 1].copy() for i in range(len(texts))]
    alone: list[tuple[int, int, str]] = []  # (text, sentence, its text): embedded on its own
    for i in multi:
        sents = [" ".join(texts[i][s:e] for s, e in g) for g in groups[i]]
        block = np.full((len(sents), vecs.shape[1]), np.nan, dtype=np.float32) if pooled is None else np.array(pooled[i], dtype=np.float32)
        alone += [(i, int(k), sents[k]) for k in np.flatnonzero(np.isnan(block[:, 0]))]
        out[i] = block
    if alone:
        fresh = _embed_unique(embedder, [a[2] for a in alone])
        for (i, k, _), v in zip(alone, fresh):
            out[i][k] = v
    STATS["separate"] += len(alone)
    STATS["pooled"] += sum(len(b) for b in out) - len(alone)
    return vecs, out


def embed_sentences(embedder: Embedder, texts: Sequence[str]) -> list[np.ndarray]:
    """(n_sentences, dim) float32 unit vectors per text, as ingestion stores them (embed_chunks)."""
    texts = list(texts)
    if not (POOLED and hasattr(embedder, "embed_with_spans")):
        # Only the sentences: a one-sentence text is embedded once, as its sentence.
        return _separately(embedder, [split_sentences(t) or [t] for t in texts])
    return embed_chunks(embedder, texts)[1]


def pack(vectors: np.ndarray) -> bytes:
    return np.ascontiguousarray(vectors, dtype=STORED_DTYPE).tobytes()


def unpack(blob: bytes | None, dim: int) -> np.ndarray | None:
    """The stored block as float32, or None when absent or not a whole number of dim-vectors
    (written by another embedding model: the caller embeds afresh)."""
    if not blob:
        return None
    width = dim * np.dtype(STORED_DTYPE).itemsize
    if len(blob) % width:
        return None
    return np.frombuffer(blob, dtype=STORED_DTYPE).reshape(-1, dim).astype(np.float32)
