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


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of a chunk; fragments under MIN_SENTENCE_WORDS words are joined
    to the following piece, so a heading travels with the text under it."""
    out: list[str] = []
    carry = ""
    for piece in CHUNK.sentences(text):
        piece = f"{carry} {piece}".strip() if carry else piece
        if len(_WORDS.findall(piece)) < MIN_SENTENCE_WORDS:
            carry = piece
            continue
        carry = ""
        out.append(piece)
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    if len(out) > MAX_SENTENCES:
        out = out[: MAX_SENTENCES - 1] + [" ".join(out[MAX_SENTENCES - 1:])]
    return out


def embed_sentences(embedder: Embedder, texts: Sequence[str]) -> list[np.ndarray]:
    """(n_sentences, dim) float32 unit vectors per text, all sentences in one batch."""
    groups = [split_sentences(t) or [t] for t in texts]
    flat = [s for g in groups for s in g]
    if not flat:
        return []
    vecs = np.asarray(embedder.embed_documents(flat), dtype=np.float32)
    out, start = [], 0
    for g in groups:
        out.append(np.ascontiguousarray(vecs[start: start + len(g)]))
        start += len(g)
    return out


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
