"""CPU sharing between the models of one process.

On a small machine the LLM and the embedder each want every core. Run together (an
ingest embedding while an answer decodes) they do not share: llama.cpp's threads spin
waiting for each other while torch holds the cores, and both slow down far more than
twice. So a process runs one model call at a time; across processes, the thread
settings (settings.llm_threads, settings.embedding_threads) must add up to the cores
(docs/deployment.md).
"""
from __future__ import annotations

import collections
import threading


class FairLock:
    """A lock granted in arrival order. threading.Lock lets a thread that just released it
    take it straight back, so under load one request stream could keep the model while
    others wait indefinitely; here every waiter gets its turn (first come, first served).
    A waiter may give up its place (`acquire(abandon=event)`: a client that went away).
    Not re-entrant, and may be released by another thread (model calls do not nest)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: collections.deque[threading.Event] = collections.deque()

    def acquire(self, abandon: threading.Event | None = None) -> bool:
        """True once held; False if `abandon` was set while waiting (the place is given up)."""
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        while not turn.wait(0.05 if abandon is not None else None):
            if abandon is not None and abandon.is_set():
                with self._mutex:
                    if turn.is_set():  # handed over just now: take it, then pass it on
                        break
                    self._waiters.remove(turn)
                return False
        return True  # release() handed the lock to this waiter

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # ownership passes directly: no barging
            else:
                self._held = False

    def waiting(self) -> int:
        """Calls queued behind the one holding the lock."""
        with self._mutex:
            return len(self._waiters)

    def __enter__(self) -> "FairLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


MODEL_CALL = FairLock()

__all__ = ["MODEL_CALL", "FairLock"]
