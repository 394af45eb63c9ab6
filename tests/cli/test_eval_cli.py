"""`docintel eval` as an evaluator runs it: real subprocesses, stored runs, gates, comparisons."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from docgen import make_pdf

pytestmark = pytest.mark.slow


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCINTEL_DATA_DIR": str(tmp_path / "var"), "DOCINTEL_LLM_MODEL": "smollm2-135m-instruct-q4_1"}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_eval_run_list_show_compare_and_gate(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faq.pdf").write_bytes(make_pdf(["Refunds are issued within 5 business days of receiving the return."]))
    (tmp_path / "docs" / "manual.pdf").write_bytes(make_pdf(["Insert two AA batteries into the remote control."]))
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"id": "refund", "question": "How quickly are refunds issued?", "answer": "within 5 business days", "document": "faq.pdf"},
        {"id": "battery", "question": "Which batteries does the remote need?", "answer": "two AA batteries", "document": "manual.pdf"},
    ]))

    p = run(tmp_path, "eval", "run", "--suite", "jsonl", "--data", "q.jsonl", "--option", "documents=docs", "--json",
            "--fail-under", "doc_recall@5=0.5")
    assert p.returncode == 0, p.stderr
    a = json.loads(p.stdout)
    assert a["status"] == "completed" and a["items_done"] == 2 and a["gate_failures"] == []
    assert a["metrics"]["doc_recall@5"] == 1.0 and Path(a["report_path"]).is_file()

    # A gate that fails exits 3 and says which metric and by how much.
    p = run(tmp_path, "eval", "run", "--suite", "jsonl", "--data", "q.jsonl", "--option", "documents=docs",
            "--set", "search_mode=bm25", "--fail-under", "token_f1=1.01")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "token_f1 =" in p.stderr and "below 1.01" in p.stderr
    b_id = p.stdout.split()[0]

    listed = json.loads(run(tmp_path, "eval", "list", "--json").stdout)["runs"]
    assert [r["id"] for r in listed] == [b_id, a["id"]]
    shown = json.loads(run(tmp_path, "eval", "show", b_id[:24], "--items", "--json").stdout)
    assert shown["overrides"] == {"search_mode": "bm25"} and {i["item_id"] for i in shown["items"]} == {"refund", "battery"}

    p = run(tmp_path, "eval", "compare", a["id"], b_id, "--html", "cmp.html", "--bootstrap", "100", "--json")
    assert p.returncode == 0, p.stderr
    cmp = json.loads(p.stdout)
    assert cmp["settings_diff"]["settings.search_mode"] == ["hybrid", "bm25"]
    assert cmp["n_shared"] == 2 and (tmp_path / "cmp.html").is_file()
    assert {m["metric"] for m in cmp["metrics"]} >= {"doc_recall@5", "token_f1"}

    # Bad input: a clear message and exit 2, nothing stored.
    p = run(tmp_path, "eval", "run", "--suite", "jsonl", "--data", "missing.jsonl")
    assert p.returncode == 2 and "does not exist" in p.stderr
    p = run(tmp_path, "eval", "run", "--suite", "jsonl", "--data", "q.jsonl", "--set", "colour=blue")
    assert p.returncode == 2 and "unknown setting(s) colour" in p.stderr
    assert len(json.loads(run(tmp_path, "eval", "list", "--json").stdout)["runs"]) == 2
