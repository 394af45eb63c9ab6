"""`docintel retrieval ...`: training the in-house retrieval models (issue 18)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cli.output import emit, fail

retrieval_app = typer.Typer(help="Train the in-house retrieval models from the shipped MiniLM: the embedder "
                                 "(bi-encoder) and the cross-encoder reranker.", no_args_is_help=True)
MODELS = ("cross-encoder", "bi-encoder")


def _model_kind(model: str, as_json: bool) -> str:
    if model not in MODELS:
        fail(ValueError(f"unknown --model '{model}' (use one of: {', '.join(MODELS)})"), as_json)
    return model


@retrieval_app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Folder for the trained model (a transformers folder)."),
    model: str = typer.Option("cross-encoder", "--model", help="cross-encoder (the reranker) or bi-encoder "
                                                                "(the embedder)."),
    acord: Optional[Path] = typer.Option(None, "--acord", help="ACORD in BEIR layout (corpus, queries, qrels/)."),
    cuad: Optional[Path] = typer.Option(None, "--cuad", help="CUAD folder (master_clauses.csv + txt/)."),
    emanual: Optional[Path] = typer.Option(None, "--emanual", help="E-Manual folder (manual corpus + QA files)."),
    hold_out: list[str] = typer.Option([], "--hold-out", help="An ACORD query id never to train on (repeatable)."),
    hold_out_section: list[str] = typer.Option([], "--hold-out-section",
                                               help="An E-Manual section id never to train on (repeatable)."),
    seed: int = typer.Option(0, "--seed"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Passes over the groups (default: the "
                                         "model's measured recipe, 1 for the cross-encoder, 2 for the bi-encoder)."),
    acord_groups: int = typer.Option(25, "--acord-groups", min=1, help="Training groups per ACORD query."),
    cuad_groups: int = typer.Option(10, "--cuad-groups", min=1, help="Training groups per CUAD category."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train a retrieval model from the installed MiniLM (seeded; with the defaults on two
    cores ~15 minutes for the cross-encoder, ~20 for the bi-encoder). Export it with
    `docintel retrieval export`, or use the torch folder as it is: DOCINTEL_RERANKER=cross-encoder
    DOCINTEL_RERANKER_MODEL_PATH=OUT, or DOCINTEL_EMBEDDING_MODEL_PATH=OUT (then re-embed)."""
    from evaluation.reranker_training import TrainConfig, build_groups, train_cross_encoder
    from ingestion.embedding import packaged_model_dir

    kind = _model_kind(model, as_json)
    config = TrainConfig(seed=seed, epochs=epochs or TrainConfig.epochs, acord_groups_per_query=acord_groups,
                         cuad_groups_per_category=cuad_groups)
    try:
        groups = build_groups(acord, cuad, config, hold_out, emanual_dir=emanual, exclude_sections=hold_out_section)
    except (OSError, ValueError) as exc:
        fail(exc, as_json)
    if kind == "bi-encoder":
        from evaluation.embedder_training import BiEncoderConfig, train_bi_encoder

        bi_config = BiEncoderConfig(seed=seed, epochs=epochs or BiEncoderConfig.epochs)
        summary = train_bi_encoder(groups, str(packaged_model_dir()), out, bi_config, progress=not as_json)
    else:
        summary = train_cross_encoder(groups, str(packaged_model_dir()), out, config, progress=not as_json)
    emit({"out": str(out), **summary}, as_json, json.dumps({"out": str(out), **summary}, indent=2))


@retrieval_app.command("export")
def export(
    model: Path = typer.Argument(..., help="A folder `docintel retrieval train` wrote."),
    out: Path = typer.Option(..., "--out", help="Folder for the shipped form and its manifest."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Export a trained model in the form DocIntel ships: a cross-encoder as int8 ONNX
    (retrieval/model/; DOCINTEL_RERANKER=cross-encoder DOCINTEL_RERANKER_MODEL_PATH=OUT), a
    bi-encoder (a folder with modules.json) as its float16 weight deltas to the installed
    MiniLM (ingestion/model/, the default embedder)."""
    if not (model / "config.json").exists() or not (model / "tokenizer.json").exists():
        fail(ValueError(f"{model} is not a trained model folder (config.json and tokenizer.json expected)"), as_json)
    try:
        if (model / "modules.json").exists():
            from evaluation.embedder_training import export_embedder

            manifest = export_embedder(model, out)
        else:
            from evaluation.reranker_training import export_onnx

            manifest = export_onnx(model, out)
    except (OSError, ValueError) as exc:
        fail(exc, as_json)
    emit({"out": str(out), **manifest}, as_json, json.dumps({"out": str(out), **manifest}, indent=2))
