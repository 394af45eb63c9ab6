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

# Known upward arrows, each to be removed, never added to: (file, imported module).
# Evaluation runs as a job and is served by the API, yet sits above both; the fix is the
# lead's (api/, workers/runtime.py): evaluation registers its job kind and routes with the
# layers below at start-up, or the job/report functions move behind a seam those layers own.
KNOWN_UPWARD = {
    ("workers/runtime.py", "evaluation.runs"),
    ("workers/runtime.py", "evaluation.compare"),
    ("workers/runtime.py", "evaluation.report"),
    ("workers/tasks.py", "evaluation.runner"),
    ("api/routes/evaluations.py", "evaluation.suites"),
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import statement in the file, wherever it sits."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def upward_arrows() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for package, rank in RANK.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for line, module in imports(path):
                target = module.split(".")[0]
                if RANK.get(target, -1) > rank:
                    found.setdefault((path.relative_to(REPO).as_posix(), module), []).append(line)
    return found


def test_every_package_is_placed_in_a_layer():
    ours = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert ours <= set(RANK), f"place {sorted(ours - set(RANK))} in LAYERS"


def test_no_new_upward_import():
    new = {f"{path}:{lines[0]} imports {module}" for (path, module), lines in upward_arrows().items()
           if (path, module) not in KNOWN_UPWARD}
    assert not new, "imports against the layer order (DESIGN.md):\n" + "\n".join(sorted(new))


def test_known_upward_imports_are_still_there():
    """A fixed arrow leaves the list, so that it cannot come back unnoticed."""
    gone = KNOWN_UPWARD - set(upward_arrows())
    assert not gone, f"no longer imported, remove from KNOWN_UPWARD: {sorted(gone)}"


def test_the_check_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\n\ndef run():\n    from evaluation.runner import RunRequest\n    import cli.main as m\n")
    assert imports(f) == [(1, "os"), (4, "evaluation.runner"), (5, "cli.main")]
