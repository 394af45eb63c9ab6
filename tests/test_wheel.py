"""The wheel as a user installs it: built from the repository, installed into a fresh
virtualenv outside the checkout, run from a directory outside the checkout.

Reinstalling every dependency would take many minutes, so the wheel goes in with --no-deps
and the project's own .venv lends its dependencies through a .pth file that names its
site-packages directory. A path line in a .pth does not process that directory's own .pth
files, so the editable install of the checkout (a .pth import hook) stays invisible: every
`docintel` module comes from the wheel, and a file the wheel forgot is a failure here.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from docgen import make_pdf, multipage_pdf_with_unique_sentence

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__",
                                     "*.pyc", ".pytest_cache", "node_modules", "bench", "docs", "samples")

CONTRACT = [
    "MASTER SERVICES AGREEMENT\nThis Master Services Agreement is made as of March 3, 2020 by and between\n"
    "Acme Widgets, Inc., a Delaware corporation (\"Supplier\"), and Globex Holdings LLC (\"Customer\").",
    "1. Term. This Agreement continues for an initial term of two (2) years.\n"
    "2. Payment. Customer shall pay each invoice within thirty (30) days of receipt.",
    "3. Governing Law. This Agreement is governed by and construed in accordance with the laws of the "
    "State of Nevada, without regard to its conflict of laws principles.",
]


def _shipped_packages() -> list[str]:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {p.rstrip("*").rstrip(".") for p in patterns}
    return sorted(t for t in tops if (REPO / t / "__init__.py").exists())


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, docintel script, wheel path, source copy, clean env, work dir)."""
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO), "the test must run outside the checkout"
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources, and the
    # checkout is shared with other processes.
    src = root / "src"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE, symlinks=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    dist = root / "dist"
    p = _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "--no-index",
              "-q", "-w", str(dist)], cwd=root, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    (wheel,) = dist.glob("docintel-*.whl")

    venv = root / "venv"
    p = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=env)
    assert p.returncode == 0, p.stderr
    py = venv / "bin" / "python"
    p = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
             cwd=root, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root, env=env).stdout.strip())
    lent = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (site / "zz_docintel_test_dependencies.pth").write_text("".join(f"{d}\n" for d in lent))

    work = root / "work"
    work.mkdir()
    env["DOCINTEL_DATA_DIR"] = str(root / "var")
    return py, venv / "bin" / "docintel", wheel, src, env, work, site


def test_wheel_holds_every_file_of_the_shipped_packages(installed):
    _, _, wheel, src, *_ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = []
    for top in _shipped_packages():
        for f in sorted((src / top).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                rel = f.relative_to(src).as_posix()
                if rel not in names:
                    missing.append(rel)
    assert not missing, f"files left out of the wheel (add them to [tool.setuptools.package-data]): {missing}"
    for needed in ("review/model/clause_model.npz", "review/model/clause_model.json", "review/playbooks/vendor_services.yaml",
                   "core/migrations/env.py", "core/migrations/script.py.mako", "api/static/swagger-ui/swagger-ui-bundle.js"):
        assert needed in names


def test_modules_come_from_the_wheel_not_the_checkout(installed):
    py, _, _, _, env, work, site = installed
    code = ("import importlib.util, json; print(json.dumps({m: importlib.util.find_spec(m).origin for m in "
            "['core', 'ingestion', 'retrieval', 'generation', 'review', 'workers', 'api', 'evaluation', 'cli']}))")
    p = _run([str(py), "-c", code], cwd=work, env=env)
    assert p.returncode == 0, p.stderr
    for module, origin in json.loads(p.stdout).items():
        assert Path(origin).is_relative_to(site), (module, origin)
        assert not Path(origin).resolve().is_relative_to(REPO), (module, origin)


def test_review_of_a_generated_contract(installed):
    _, docintel, _, _, env, work, _ = installed
    (work / "msa.pdf").write_bytes(make_pdf(CONTRACT))
    p = _run([str(docintel), "review", "msa.pdf", "--json"], cwd=work, env=env)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["document"]["pages"] == 3
    assert r["terms"]["governing_law"]["value"] == "Nevada" and r["terms"]["governing_law"]["page"] == 3
    law = [c for c in r["clauses"] if c["category"] == "Governing Law"]  # the shipped clause model
    assert law and law[0]["page"] == 3 and "Nevada" in law[0]["text"]
    assert "governing-law-preferred" in {f["rule"] for f in r["findings"]}  # the shipped default playbook


def test_ingest_and_search_a_generated_pdf(installed):
    _, docintel, _, _, env, work, _ = installed
    unique = "Termination for convenience requires ninety days written notice."
    (work / "msa-terms.pdf").write_bytes(multipage_pdf_with_unique_sentence(unique, unique_page=2, n_pages=3))
    p = _run([str(docintel), "ingest", "msa-terms.pdf", "--collection", "legal", "--json"], cwd=work, env=env)
    assert p.returncode == 0, p.stderr
    (doc,) = json.loads(p.stdout)["documents"]
    assert doc["status"] == "indexed" and doc["pages"] == 3  # the migrations ran from the wheel
    p = _run([str(docintel), "search", "notice period for termination for convenience", "--collection", "legal",
              "--k", "3", "--json"], cwd=work, env=env)
    assert p.returncode == 0, p.stderr
    top = json.loads(p.stdout)["results"][0]
    assert top["document_name"] == "msa-terms.pdf" and top["page_start"] == 2 and unique in top["text"]
