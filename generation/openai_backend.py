"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, OpenAI) by base URL.

The official `openai` client does the transport: timeouts, retries with exponential
backoff on connection errors, 408/409/429 and 5xx, and SSE streaming.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from core.errors import DocIntelError
from generation.base import Completion, Message, Usage, as_dicts


class GeneratorError(DocIntelError):
    """The LLM backend failed after its retries."""


class OpenAIGenerator:
    def __init__(self, base_url: str, model: str, api_key: str = "not-needed", timeout: float = 60.0, max_retries: int = 3):
        import openai

        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries)
        self.model = model
        self.model_id = f"openai:{model}@{base_url}"

    def _call(self, **kwargs):
        try:
            return self.client.chat.completions.create(model=self.model, **kwargs)
        except self._openai.APIStatusError as exc:
            raise GeneratorError(f"LLM server answered {exc.status_code}: {exc.message}") from exc
        except self._openai.APIConnectionError as exc:
            raise GeneratorError(f"LLM server unreachable at {self.client.base_url}: {exc}") from exc

    def generate(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None) -> Completion:
        t0 = time.perf_counter()
        resp = self._call(messages=as_dicts(messages), max_tokens=max_tokens, temperature=temperature, stop=list(stop) if stop else None)
        choice = resp.choices[0]
        usage = resp.usage
        completion = Completion(
            text=choice.message.content or "",
            model=self.model_id,
            usage=Usage(getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0),
            finish_reason=choice.finish_reason,
            timings={"total": time.perf_counter() - t0},
        )
        return completion

    def stream(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None,
               cancel: threading.Event | None = None) -> Iterator[str | Completion]:
        t0 = time.perf_counter()
        first = None
        pieces: list[str] = []
        finish = None
        usage = Usage()
        events = self._call(
            messages=as_dicts(messages), max_tokens=max_tokens, temperature=temperature,
            stop=list(stop) if stop else None, stream=True, stream_options={"include_usage": True},
        )
        content_events = 0
        try:
            for event in events:
                if cancel is not None and cancel.is_set():
                    break  # the reader left: closing the HTTP stream frees the server
                if getattr(event, "usage", None):
                    usage = Usage(event.usage.prompt_tokens or 0, event.usage.completion_tokens or 0)
                if not event.choices:
                    continue
                choice = event.choices[0]
                finish = choice.finish_reason or finish
                piece = choice.delta.content if choice.delta else None
                if piece:
                    content_events += 1
                    if first is None:
                        first = time.perf_counter() - t0
                    pieces.append(piece)
                    yield piece
        except self._openai.APIError as exc:
            raise GeneratorError(f"LLM stream failed: {exc}") from exc
        finally:  # a reader that stops early closes the HTTP stream, freeing the server's slot
            close = getattr(events, "close", None)
            if close is not None:
                close()
        if not usage.completion_tokens:
            # servers that ignore include_usage send one token per event
            usage = Usage(usage.prompt_tokens, content_events)
        # Its own usage travels with each stream, never on the shared instance.
        yield Completion(
            text="".join(pieces), model=self.model_id, usage=usage, finish_reason=finish,
            timings={"first_token": first or 0.0, "total": time.perf_counter() - t0},
        )
