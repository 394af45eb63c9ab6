"""The `docintel` command as a user runs it: a real subprocess, JSON output, exit codes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from docgen import make_pdf, multipage_pdf_with_unique_sentence

pytestmark = pytest.mark.slow


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCINTEL_DATA_DIR": str(tmp_path / "var")}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_ingest_search_list_show_delete(tmp_path):
    unique = "Termination for convenience requires ninety days written notice."
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "msa.pdf").write_bytes(multipage_pdf_with_unique_sentence(unique, unique_page=2, n_pages=3))
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    (tmp_path / "docs" / "faq.md").write_text("# FAQ\n\nSupport is open on weekdays.")

    p = run(tmp_path, "ingest", "docs", "--collection", "legal", "--json")
    assert p.returncode == 2, p.stderr
    out = {Path(d["path"]).name: d for d in json.loads(p.stdout)["documents"]}
    assert set(out) == {"msa.pdf", "broken.pdf", "faq.md"}
    assert out["msa.pdf"]["status"] == "indexed" and out["msa.pdf"]["pages"] == 3 and out["msa.pdf"]["chunks"] >= 1
    assert out["broken.pdf"]["status"] == "failed" and out["broken.pdf"]["error"]
    assert set(out["msa.pdf"]) == {"path", "document_id", "status", "pages", "chunks", "error"}

    p = run(tmp_path, "ingest", "docs/msa.pdf", "docs/faq.md", "--collection", "legal", "--json")
    assert p.returncode == 0
    assert {d["status"] for d in json.loads(p.stdout)["documents"]} == {"unchanged"}

    p = run(tmp_path, "search", "notice period for termination for convenience", "--collection", "legal", "--k", "2", "--json")
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout)["results"]
    top = results[0]
    assert set(top) == {"document_id", "document_name", "chunk_id", "page_start", "page_end", "char_start", "char_end", "score", "text"}
    assert top["document_name"] == "msa.pdf" and top["page_start"] == 2 and unique in top["text"]

    docs = json.loads(run(tmp_path, "documents", "list", "--collection", "legal", "--json").stdout)["documents"]
    msa = next(d for d in docs if d["name"] == "msa.pdf")
    shown = json.loads(run(tmp_path, "documents", "show", str(msa["document_id"]), "--collection", "legal", "--json").stdout)
    assert shown["pages"] == 3 and shown["chunks"] >= 1

    assert run(tmp_path, "documents", "delete", str(msa["document_id"]), "--collection", "legal", "--json").returncode == 0
    results = json.loads(run(tmp_path, "search", "termination", "--collection", "legal", "--json").stdout)["results"]
    assert all(r["document_name"] != "msa.pdf" for r in results)

    cols = json.loads(run(tmp_path, "collections", "list", "--json").stdout)["collections"]
    assert [c["name"] for c in cols] == ["legal"]
    assert run(tmp_path, "collections", "delete", "legal", "--json").returncode == 0
    assert json.loads(run(tmp_path, "collections", "list", "--json").stdout)["collections"] == []


def test_unknown_collection_is_a_clear_error(tmp_path):
    p = run(tmp_path, "search", "anything", "--collection", "missing", "--json")
    assert p.returncode == 1
    assert "collection 'missing' does not exist" in json.loads(p.stdout)["error"]


def test_human_output(tmp_path):
    (tmp_path / "a.pdf").write_bytes(make_pdf(["Payment terms are net thirty."]))
    p = run(tmp_path, "ingest", "a.pdf", "--collection", "c")
    assert p.returncode == 0 and "1 indexed, 0 unchanged, 0 failed" in p.stdout
    p = run(tmp_path, "search", "payment terms", "--collection", "c")
    assert "a.pdf p.1" in p.stdout


def test_a_search_process_loads_neither_torch_nor_scipy_nor_alembic(tmp_path):
    """Issue 17 (fast start): `docintel search` on an up-to-date database with the int8 ONNX
    query encoder (the default query runtime) loads no torch or sentence-transformers (the
    document runtime), no scipy (bm25s builds with numpy) and no Alembic (the schema is
    current), and still finds the passage."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "msa.md").write_text("# MSA\n\nTermination for convenience requires ninety days written notice.\n\n"
                                              "# Fees\n\nInvoices are payable within thirty days.")
    assert run(tmp_path, "ingest", "docs", "--collection", "legal", "--json").returncode == 0
    # built once per test session (as `docintel models install` does on a server), not by the search
    assert run(tmp_path, "models", "install", "minilm-onnx-int8", "--json").returncode == 0
    probe = ("import json, sys\nfrom cli.main import main\n"
             "sys.argv = ['docintel', 'search', 'notice period for termination', '--collection', 'legal', '--k', '1', '--json']\n"
             "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
             "heavy = ('torch', 'sentence_transformers', 'transformers', 'scipy', 'alembic', 'sklearn')\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))")
    env = {**os.environ, "DOCINTEL_DATA_DIR": str(tmp_path / "var"), "DOCINTEL_QUERY_EMBEDDING_RUNTIME": "onnx-int8"}
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    *results, loaded = p.stdout.strip().splitlines()
    assert "ninety days" in json.loads("\n".join(results))["results"][0]["text"]
    assert json.loads(loaded) == []
