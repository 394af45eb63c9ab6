"""The Generator factory: the only place that branches on the backend name."""
from __future__ import annotations

import os
import threading

from core.settings import Settings
from generation.base import Generator
from generation.models import ModelError, verified_path

_CACHE: dict[tuple, Generator] = {}
_LOCK = threading.Lock()


def get_generator(settings: Settings) -> Generator:
    backend = settings.llm_backend
    if backend == "llamacpp":
        key = (backend, settings.llm_model, str(settings.data_dir.resolve()), settings.llm_context_tokens)
    elif backend == "openai":
        key = (backend, settings.openai_base_url, settings.openai_model)
    elif backend == "transformers":
        key = (backend, settings.transformers_model_path, settings.transformers_device)
    else:
        raise ModelError(f"unknown llm_backend '{backend}' (use llamacpp, openai or transformers)")
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(settings)
        return _CACHE[key]


def usable_cpus() -> int:
    """Cores this process may run on. llama-cpp-python's own default is half the cores: one
    thread on a 2-core machine, which measured 1.6x slower decoding (docs/benchmarks.md)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _build(settings: Settings) -> Generator:
    if settings.llm_backend == "llamacpp":
        from generation.llamacpp_backend import LlamaCppGenerator

        path = verified_path(settings, settings.llm_model)  # refuses a file that fails sha256
        return LlamaCppGenerator(path, f"llamacpp:{settings.llm_model}", settings.llm_context_tokens, settings.llm_threads or usable_cpus())
    if settings.llm_backend == "openai":
        from generation.openai_backend import OpenAIGenerator

        return OpenAIGenerator(
            settings.openai_base_url, settings.openai_model, settings.openai_api_key,
            settings.openai_timeout_s, settings.openai_max_retries,
        )
    from generation.transformers_backend import TransformersGenerator

    if not settings.transformers_model_path:
        raise ModelError("llm_backend=transformers needs DOCINTEL_TRANSFORMERS_MODEL_PATH (a local model folder)")
    return TransformersGenerator(settings.transformers_model_path, settings.transformers_device)
