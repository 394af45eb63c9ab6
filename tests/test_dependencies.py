"""Declared dependencies against what the shipped packages import: every distribution in
pyproject.toml is used, every third-party import is declared, and what only training and
evaluation use (the `train` and `eval` extras) stays out of the serving process."""
from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
NOT_SHIPPED_EXTRAS = {"test"}  # the test suite's own tools; tests/ is not in the wheel

# Declared and never imported by our code, but needed all the same.
USED_WITHOUT_IMPORT = {
    "onnx-ir": "onnxruntime's MatMulNBits quantiser imports it and does not declare it",
    "fonttools": "pypdf decodes CFF/Type1 font encodings (LaTeX PDFs) with it",
    "psycopg": "SQLAlchemy's postgresql+psycopg driver, chosen by the database URL",
    "python-multipart": "FastAPI parses multipart uploads with it",
}
# Imported and not declared: part of a declared distribution's interface, which pins the
# versions it works with (checked below: the named distribution does require it).
IMPORTED_THROUGH = {
    "starlette": ("fastapi", "FastAPI is Starlette; responses, middleware and requests are Starlette's"),
    "anyio": ("starlette", "Starlette's async runtime; api/streaming.py hands blocking work to its threads"),
    "pillow": ("matplotlib", "matplotlib's image library; evaluation/report.py shrinks its PNGs with it"),
    "cycler": ("matplotlib", "matplotlib's style cycles (evaluation/report.py)"),
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec).group())


def shipped_packages() -> list[str]:
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {p.rstrip("*").rstrip(".") for p in include}
    return sorted(t for t in tops if (REPO / t / "__init__.py").exists())


@functools.cache
def third_party_imports() -> dict[str, list[tuple[str, int, bool]]]:
    """Top-level import name -> [(file, line, at module level)] over the shipped packages."""
    own = set(shipped_packages())
    found: dict[str, list[tuple[str, int, bool]]] = {}
    for top in own:
        for path in sorted((REPO / top).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            module_level = {id(n) for n in tree.body}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    first = name.split(".")[0]
                    if first in own or first in sys.stdlib_module_names or first == "__future__":
                        continue
                    where = (str(path.relative_to(REPO)), node.lineno, id(node) in module_level)
                    found.setdefault(first, []).append(where)
    return found


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """(the core dependencies, extra -> its distributions), names normalised."""
    core = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = {extra: {requirement_name(r) for r in reqs}
              for extra, reqs in PYPROJECT["project"].get("optional-dependencies", {}).items()
              if extra not in NOT_SHIPPED_EXTRAS}
    return core, extras


@functools.cache
def _import_names() -> dict[str, list[str]]:
    return packages_distributions()


def distributions_of(import_name: str) -> set[str]:
    return {normalize(d) for d in _import_names().get(import_name, [])}


def test_every_third_party_import_is_declared():
    core, extras = declared()
    allowed = core | set().union(*extras.values())
    undeclared = {}
    for name, places in sorted(third_party_imports().items()):
        dists = distributions_of(name)
        assert dists, f"{name} (imported at {places[0][:2]}) is not installed"
        if dists & allowed or dists & set(IMPORTED_THROUGH):
            continue
        undeclared[name] = (sorted(dists), places[0][:2])
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_declared_distribution_is_imported():
    core, extras = declared()
    imported = set()
    for name in third_party_imports():
        imported |= distributions_of(name)
    unused = sorted((core | set().union(*extras.values())) - imported - set(USED_WITHOUT_IMPORT))
    assert not unused, f"declared in pyproject.toml but imported nowhere in {shipped_packages()}: {unused}"


def test_the_allowed_exceptions_still_hold():
    core, extras = declared()
    everything = core | set().union(*extras.values())
    imported = set()
    for name in third_party_imports():
        imported |= distributions_of(name)
    for dist in USED_WITHOUT_IMPORT:
        assert dist in everything, f"{dist} is no longer declared: drop it from USED_WITHOUT_IMPORT"
        assert dist not in imported, f"{dist} is imported now: drop it from USED_WITHOUT_IMPORT"
    for dist, (through, _) in IMPORTED_THROUGH.items():
        assert dist in imported, f"{dist} is not imported any more: drop it from IMPORTED_THROUGH"
        assert dist not in everything, f"{dist} is declared now: drop it from IMPORTED_THROUGH"
        required = {requirement_name(r) for r in requires(through) or [] if "extra ==" not in r}
        assert dist in required, f"{through} does not require {dist}: declare {dist} instead"


def test_extras_are_imported_lazily_and_named_by_core_extras():
    from core.extras import EXTRA_MODULES

    core, extras = declared()
    only_in_extras = set().union(*extras.values()) - core
    imports = third_party_imports()
    named = {}
    for name, places in imports.items():
        dists = distributions_of(name) & only_in_extras
        if not dists:
            continue
        top_level = [p[:2] for p in places if p[2]]
        assert not top_level, f"{name} (an optional extra) is imported at module level: {top_level}"
        named[name] = tuple(sorted(e for e, ds in extras.items() if ds & dists))
    assert named == {m: tuple(sorted(e)) for m, e in EXTRA_MODULES.items()}, "core/extras.py and pyproject.toml disagree"


def test_serving_modules_import_without_the_extras():
    """Every module of the shipped packages imports with the extras' modules absent, except
    the training and evaluation modules that are allowed to need them."""
    from core.extras import EXTRA_MODULES

    code = f"""
import importlib, pkgutil, sys
for name in {sorted(EXTRA_MODULES)!r}:
    sys.modules[name] = None  # import raises ImportError
failed = []
for top in {shipped_packages()!r}:
    pkg = importlib.import_module(top)
    for info in pkgutil.walk_packages(pkg.__path__, top + "."):
        if ".migrations" in info.name:
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            failed.append(f"{{info.name}}: {{exc}}")
print("\\n".join(failed))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "", f"modules that need an optional extra at import time:\n{p.stdout}"


def test_a_missing_extra_names_the_extra_to_install():
    from core.extras import MissingExtraError, missing_extra

    err = missing_extra(ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib.figure"))
    assert isinstance(err, MissingExtraError) and "docintel[eval]" in str(err) and "matplotlib" in str(err)
    assert "docintel[train]" in str(missing_extra(ModuleNotFoundError("x", name="sklearn")))
    assert missing_extra(ModuleNotFoundError("x", name="numpy")) is None
    assert missing_extra(ValueError("matplotlib")) is None


def test_the_cli_reports_a_missing_extra(monkeypatch, capsys):
    """A command that reaches for scikit-learn without it: the extra to install, exit 1."""
    import cli.main

    def train_without_sklearn():
        raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")

    monkeypatch.setattr(cli.main, "app", train_without_sklearn)
    for argv, stream in ((["docintel", "review", "train"], "err"), (["docintel", "review", "train", "--json"], "out")):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_:
            cli.main.main()
        assert exit_.value.code == 1
        assert "docintel[train]" in getattr(capsys.readouterr(), stream)
    monkeypatch.setattr(cli.main, "app", lambda: __import__("no_such_module_xyz"))
    with pytest.raises(ModuleNotFoundError):  # anything else stays a bug, with its traceback
        cli.main.main()
