"""`docintel retrieval ...`: training the in-house retrieval models (issue 18)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cli.output import emit, fail

retrieval_app = typer.Typer(help="Train the in-house cross-encoder reranker from the shipped MiniLM.",
                            no_args_is_help=True)


@retrieval_app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Folder for the trained model (a CrossEncoder folder)."),
    acord: Optional[Path] = typer.Option(None, "--acord", help="ACORD in BEIR layout (corpus, queries, qrels/)."),
    cuad: Optional[Path] = typer.Option(None, "--cuad", help="CUAD folder (master_clauses.csv + txt/)."),
    emanual: Optional[Path] = typer.Option(None, "--emanual", help="E-Manual folder (manual corpus + QA files)."),
    hold_out: list[str] = typer.Option([], "--hold-out", help="An ACORD query id never to train on (repeatable)."),
    hold_out_section: list[str] = typer.Option([], "--hold-out-section",
                                               help="An E-Manual section id never to train on (repeatable)."),
    seed: int = typer.Option(0, "--seed"),
    epochs: int = typer.Option(1, "--epochs", min=1),
    acord_groups: int = typer.Option(25, "--acord-groups", min=1, help="Training groups per ACORD query."),
    cuad_groups: int = typer.Option(10, "--cuad-groups", min=1, help="Training groups per CUAD category."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train a cross-encoder reranker (seeded; ~15 minutes on two cores with the defaults).
    Export it with `docintel retrieval export`; or use the torch folder as it is with
    DOCINTEL_RERANKER=cross-encoder DOCINTEL_RERANKER_MODEL_PATH=OUT."""
    from ingestion.embedding import packaged_model_dir
    from evaluation.reranker_training import TrainConfig, build_groups, train_cross_encoder

    config = TrainConfig(seed=seed, epochs=epochs, acord_groups_per_query=acord_groups,
                         cuad_groups_per_category=cuad_groups)
    try:
        groups = build_groups(acord, cuad, config, hold_out, emanual_dir=emanual, exclude_sections=hold_out_section)
    except (OSError, ValueError) as exc:
        fail(exc, as_json)
    summary = train_cross_encoder(groups, str(packaged_model_dir()), out, config, progress=not as_json)
    emit({"out": str(out), **summary}, as_json, json.dumps({"out": str(out), **summary}, indent=2))


@retrieval_app.command("export")
def export(
    model: Path = typer.Argument(..., help="A folder `docintel retrieval train` wrote."),
    out: Path = typer.Option(..., "--out", help="Folder for the int8 ONNX model, tokenizer and manifest."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Export a trained cross-encoder to int8 ONNX (what DocIntel ships in retrieval/model/).
    Use it with DOCINTEL_RERANKER=cross-encoder DOCINTEL_RERANKER_MODEL_PATH=OUT."""
    from evaluation.reranker_training import export_onnx

    if not (model / "config.json").exists() or not (model / "tokenizer.json").exists():
        fail(ValueError(f"{model} is not a trained cross-encoder folder (config.json and tokenizer.json expected)"),
             as_json)
    manifest = export_onnx(model, out)
    emit({"out": str(out), **manifest}, as_json, json.dumps({"out": str(out), **manifest}, indent=2))
