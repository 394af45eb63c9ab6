"""Embedded llama.cpp (llama-cpp-python): the default, fully offline on CPU."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from core.compute import MODEL_CALL
from generation.base import Completion, Message, Usage, as_dicts


class LlamaCppGenerator:
    def __init__(self, model_path: Path, model_id: str, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0):
        from llama_cpp import Llama

        t0 = time.perf_counter()
        self.llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
        self.load_seconds = time.perf_counter() - t0
        self.model_id = model_id
        # A llama context is not safe for concurrent calls, and the process runs one model call at a time.
        self._lock = MODEL_CALL

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False))

    def generate(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None) -> Completion:
        t0 = time.perf_counter()
        with self._lock:
            out = self.llm.create_chat_completion(
                messages=as_dicts(messages), max_tokens=max_tokens, temperature=temperature, stop=list(stop or []) or None,
            )
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        completion = Completion(
            text=choice["message"].get("content") or "",
            model=self.model_id,
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
            timings={"total": time.perf_counter() - t0},
        )
        return completion

    def stream(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None,
               cancel: threading.Event | None = None) -> Iterator[str | Completion]:
        """Pieces as they are decoded, then the Completion. Decoding runs on its own thread
        and holds the model only while someone reads: closing this iterator, or setting
        `cancel` (a client that disconnected), stops it at the next token, or gives up its
        place in the queue for the model, and frees the model for the next caller."""
        t0 = time.perf_counter()
        first = None
        pieces: list[str] = []
        finish = None
        chunks: queue.Queue = queue.Queue()
        abandoned = cancel or threading.Event()

        def decode() -> None:
            try:
                if not self._lock.acquire(abandon=abandoned):
                    return  # the reader left while this call waited for the model
                try:
                    for chunk in self.llm.create_chat_completion(
                        messages=as_dicts(messages), max_tokens=max_tokens, temperature=temperature,
                        stop=list(stop or []) or None, stream=True,
                    ):
                        if abandoned.is_set():
                            break  # leaving llama-cpp's generator ends the decode loop
                        chunks.put(chunk)
                finally:
                    self._lock.release()
            except BaseException as exc:  # handed to the reader
                chunks.put(exc)
            finally:
                chunks.put(None)

        threading.Thread(target=decode, name="llama-stream", daemon=True).start()
        try:
            while (chunk := _next_chunk(chunks, abandoned)) is not None:
                if isinstance(chunk, BaseException):
                    raise chunk
                choice = chunk["choices"][0]
                finish = choice.get("finish_reason") or finish
                piece = choice.get("delta", {}).get("content")
                if piece:
                    if first is None:
                        first = time.perf_counter() - t0
                    pieces.append(piece)
                    yield piece
        finally:
            abandoned.set()
        text = "".join(pieces)
        prompt_tokens = sum(self.count_tokens(m.content) for m in messages)
        # Its own usage travels with each stream, never on the shared instance.
        yield Completion(
            text=text, model=self.model_id,
            usage=Usage(prompt_tokens, self.count_tokens(text) if text else 0),
            finish_reason=finish,
            timings={"first_token": first or 0.0, "total": time.perf_counter() - t0},
        )


def _next_chunk(chunks: queue.Queue, cancel: threading.Event):
    """The decoder's next chunk; None at its end or once `cancel` is set."""
    while not cancel.is_set():
        try:
            return chunks.get(timeout=0.05)
        except queue.Empty:
            continue
    return None
