"""Arrows point down only (shared/DESIGN.md): every import of every package, at module level
or inside a function, names a package of a lower layer, its own, or a third-party one."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
# Lower first; cli and bench sit on top side by side. web imports nothing of ours (the API
# app mounts it), so it ranks below everything.
LAYERS = ["web", "core", "ingestion", "retrieval", "generation", "review", "workers", "api", "evaluation", ("cli", "bench")]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in ((layer,) if isinstance(layer, str) else layer)}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import statement in the file, wherever it sits."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def upward_arrows(root: Path = REPO) -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for package, rank in RANK.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, module in imports(path):
                target = module.split(".")[0]
                if RANK.get(target, -1) > rank:
                    found.setdefault((path.relative_to(root).as_posix(), module), []).append(line)
    return found


def test_every_package_is_placed_in_a_layer():
    ours = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert ours <= set(RANK), f"place {sorted(ours - set(RANK))} in LAYERS"


def test_no_new_upward_import():
    """None at all: a layer above (evaluation's job kind and routes) registers with the layers
    below when a process is composed (cli/composition.py), instead of being imported by them."""
    found = {f"{path}:{lines[0]} imports {module}" for (path, module), lines in upward_arrows().items()}
    assert not found, "imports against the layer order (DESIGN.md):\n" + "\n".join(sorted(found))


def test_the_check_finds_an_upward_import(tmp_path):
    for package, text in (("workers", "def run():\n    from evaluation.runner import RunRequest\n"),
                          ("api", "import core.settings\nfrom workers.runtime import Runtime\n"),
                          ("cli", "import evaluation.service\n")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "m.py").write_text(text)
    assert upward_arrows(tmp_path) == {("workers/m.py", "evaluation.runner"): [2]}


def test_the_check_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\n\ndef run():\n    from evaluation.runner import RunRequest\n    import cli.main as m\n")
    assert imports(f) == [(1, "os"), (4, "evaluation.runner"), (5, "cli.main")]
