"""What every `docintel` command shares: the --json option, printing a result, failing with a message."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def get_settings():
    """core.settings.get_settings, imported when a command runs: pydantic-settings is a good
    part of the CLI's start, and `docintel --help` needs no settings."""
    from core.settings import get_settings as settings

    return settings()


def emit(obj: Any, as_json: bool, human: str) -> None:
    if as_json:
        typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))
    else:
        typer.echo(human)


def fail(exc: Exception, as_json: bool, code: int = 1) -> None:
    """Print the error (JSON on stdout with --json, else on stderr) and exit with `code`."""
    if as_json:
        typer.echo(json.dumps({"error": str(exc)}))
    else:
        typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code)


@contextmanager
def chunk_progress(desc: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (when it is a terminal) fed by a use case's
    `progress(done, total)` callback; closed however the command ends."""
    from tqdm import tqdm

    bar = tqdm(unit="chunk", desc=desc, file=sys.stderr, disable=not sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        bar.close()
