"""The Generator factory: the only place that branches on the backend name.

Each backend is one `Backend` entry: how to build it, what identifies a built instance (its
cache key), how to describe it in a run record, and which local model file it needs (None
for a server). Callers ask these questions through the functions below, never by name.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from generation.base import Generator
from generation.models import ModelError, models_dir, verified_path

_CACHE: dict[tuple, Generator] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Backend:
    build: Callable[[Settings], Generator]
    cache_key: Callable[[Settings], tuple]
    describe: Callable[[Settings], dict[str, Any]]  # what produced a run's numbers
    local_model: Callable[[Settings], str | None] = lambda settings: None  # a GGUF of generation.models


def _backend(settings: Settings) -> Backend:
    try:
        return BACKENDS[settings.llm_backend]
    except KeyError:
        raise ModelError(f"unknown llm_backend '{settings.llm_backend}' (use {', '.join(BACKENDS)})") from None


def get_generator(settings: Settings) -> Generator:
    backend = _backend(settings)
    key = (settings.llm_backend, *backend.cache_key(settings))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = backend.build(settings)
        return _CACHE[key]


def describe_generator(settings: Settings) -> dict[str, Any]:
    """The configured generator as a run records it: backend and model (with its sha256
    when it is a local file)."""
    return {"backend": settings.llm_backend, **_backend(settings).describe(settings)}


def local_model_name(settings: Settings) -> str | None:
    """The local model file the configured backend loads (`docintel models install NAME`),
    None when it talks to a server or loads a folder of the user's."""
    return _backend(settings).local_model(settings)


def usable_cpus() -> int:
    """Cores this process may run on. llama-cpp-python's own default is half the cores: one
    thread on a 2-core machine, which measured 1.6x slower decoding (docs/benchmarks.md)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _llamacpp(settings: Settings) -> Generator:
    from generation.llamacpp_backend import LlamaCppGenerator

    path = verified_path(settings, settings.llm_model)  # refuses a file that fails sha256
    return LlamaCppGenerator(path, f"llamacpp:{settings.llm_model}", settings.llm_context_tokens, settings.llm_threads or usable_cpus())


def _describe_llamacpp(settings: Settings) -> dict[str, Any]:
    from generation.models import get_spec

    spec = get_spec(settings.llm_model)
    return {"name": spec.name, "sha256": spec.sha256}


def _openai(settings: Settings) -> Generator:
    from generation.openai_backend import OpenAIGenerator

    return OpenAIGenerator(
        settings.openai_base_url, settings.openai_model, settings.openai_api_key,
        settings.openai_timeout_s, settings.openai_max_retries,
    )


def _transformers(settings: Settings) -> Generator:
    from generation.transformers_backend import TransformersGenerator

    if not settings.transformers_model_path:
        raise ModelError("llm_backend=transformers needs DOCINTEL_TRANSFORMERS_MODEL_PATH (a local model folder)")
    return TransformersGenerator(settings.transformers_model_path, settings.transformers_device)


BACKENDS: dict[str, Backend] = {
    "llamacpp": Backend(
        _llamacpp, lambda s: (s.llm_model, str(models_dir(s).resolve()), s.llm_context_tokens), _describe_llamacpp,
        local_model=lambda s: s.llm_model,
    ),
    "openai": Backend(
        _openai, lambda s: (s.openai_base_url, s.openai_model),
        lambda s: {"base_url": s.openai_base_url, "name": s.openai_model},
    ),
    "transformers": Backend(
        _transformers, lambda s: (s.transformers_model_path, s.transformers_device),
        lambda s: {"path": s.transformers_model_path},
    ),
}
