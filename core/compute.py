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


class FairLock:
    """A lock granted in arrival order. threading.Lock lets a thread that just released it
    take it straight back, so under load one request stream could keep the model while
    others wait indefinitely; here every waiter gets its turn (first come, first served).
    Not re-entrant, and may be released by another thread (model calls do not nest)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    def waiting(self) -> int:
        """Calls queued behind the one holding the lock."""
        with self._cond:
            return max(0, self._next_ticket - self._serving - 1)

    def __enter__(self) -> "FairLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


MODEL_CALL = FairLock()

__all__ = ["MODEL_CALL", "FairLock"]
