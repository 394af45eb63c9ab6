"""The Generator seam: one protocol for every LLM backend."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    # seconds: first_token (time to first token), total
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Generator(Protocol):
    model_id: str

    def generate(
        self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None
    ) -> Completion: ...

    def stream(
        self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str | Completion]:
        """Yields text pieces, then the whole Completion (text, usage, timings) as the last
        item: per call, so concurrent streams on one instance never mix their usage. Once
        `cancel` is set (the reader went away) it stops early."""
        ...


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]
