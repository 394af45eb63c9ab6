"""Issue 17 (fast start): a `docintel` process loads only what its command needs. `--help`
and importing the CLI load neither the SQL store (SQLAlchemy, Alembic), nor the settings
(pydantic-settings), nor any model runtime."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "faiss", "numpy",
         "sqlalchemy", "alembic", "pydantic_settings", "fastapi", "celery")
# (pydantic itself is not listed: Typer uses it to parse a command's parameters.)


def loaded_after(code: str, *argv: str) -> set[str]:
    """The top-level packages among HEAVY that a fresh interpreter has loaded after `code`."""
    probe = (f"import sys\nsys.argv = ['docintel', *{list(argv)!r}]\n{code}\n"
             f"print(__import__('json').dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_store_settings_or_model():
    assert loaded_after("import cli.main") == set()


def test_help_loads_no_store_settings_or_model():
    code = "from cli.main import main\ntry:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code"
    assert loaded_after(code, "--help") == set()
    assert loaded_after(code, "search", "--help") == set()


def test_the_core_package_reexports_nothing():
    """`import core` (every `core.x` import runs it) must not drag in the store."""
    assert loaded_after("import core, core.errors, core.types") == set()
