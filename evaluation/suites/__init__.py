"""Evaluation suites, one per data-set format. `get_suite(name)` is the one factory."""
from __future__ import annotations

from importlib import import_module

from evaluation.suites.base import Suite

# name -> "module:Class"; imported on demand so `docintel eval list` stays fast.
SUITES: dict[str, str] = {
    "beir": "evaluation.suites.beir:BeirSuite",
    "squad": "evaluation.suites.squad:SquadSuite",
    "emanual": "evaluation.suites.emanual:EManualSuite",
    "cuad": "evaluation.suites.cuad:CuadSuite",
    "contractnli": "evaluation.suites.contractnli:ContractNliSuite",
    "jsonl": "evaluation.suites.jsonl:JsonlSuite",
}


def get_suite(name: str) -> Suite:
    try:
        target = SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite '{name}'; choose one of: {', '.join(SUITES)}") from None
    module, cls = target.split(":")
    return getattr(import_module(module), cls)()


__all__ = ["SUITES", "get_suite"]
