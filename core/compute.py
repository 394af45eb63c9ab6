"""CPU sharing between the models of one process.

On a small machine the LLM and the embedder each want every core. Run together (an
ingest embedding while an answer decodes) they do not share: llama.cpp's threads spin
waiting for each other while torch holds the cores, and both slow down far more than
twice. So a process runs one model call at a time; across processes, the thread
settings (settings.llm_threads, settings.embedding_threads) must add up to the cores
(docs/deployment.md).
"""
from __future__ import annotations

import threading

# A plain Lock, not an RLock: a streamed generation is resumed by whichever thread a web
# server hands it to, and only a Lock may be released by another thread. Model calls do
# not nest.
MODEL_CALL = threading.Lock()

__all__ = ["MODEL_CALL"]
