"""Evaluation runs end to end: a JSONL suite over generated PDFs, stored, resumed, compared."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from docgen import make_pdf

from core.store import Store
from evaluation.compare import compare_runs
from evaluation.runner import (EvaluationError, RunRequest, apply_overrides, check_gates, collection_name, fingerprint,
                               parse_pairs, run_evaluation)
from evaluation.runs import RunStore
from evaluation.suites import get_suite
from evaluation.suites.base import ItemResult, sample
from evaluation.suites.jsonl import load_jsonl

PAGES = {
    "warranty.pdf": ["Product warranty terms.", "The warranty period for the Model Z-900 blender is 24 months from purchase."],
    "returns.pdf": ["Returns are accepted within 30 days of delivery with the original receipt."],
}
QUESTIONS = [
    {"id": "w1", "question": "How long is the warranty period for the Model Z-900 blender?", "answer": "24 months",
     "document": "docs/warranty.pdf", "page": 2},
    {"id": "r1", "question": "Within how many days are returns accepted?", "answer": ["30 days", "thirty days"],
     "document": "docs/returns.pdf", "page": 1},
    {"id": "n1", "question": "What is the shipping cost to Antarctica?", "answer": None},
]


@pytest.fixture
def qa_set(tmp_path: Path) -> Path:
    (tmp_path / "data" / "docs").mkdir(parents=True)
    for name, pages in PAGES.items():
        (tmp_path / "data" / "docs" / name).write_bytes(make_pdf(pages))
    path = tmp_path / "data" / "questions.jsonl"
    path.write_text("// our support questions\n" + "\n".join(json.dumps(q) for q in QUESTIONS) + "\n\n")
    return path


@pytest.mark.unit
def test_load_jsonl_reads_records_and_names_bad_lines(tmp_path):
    good = tmp_path / "q.jsonl"
    good.write_text('{"question": "a?", "answer": "x"}\n{"id": "b", "question": "b?", "answer": ["y", "z"], "page": 3}\n')
    items = load_jsonl(good)
    assert [i.id for i in items] == ["line-1", "b"]
    assert items[1].data["answers"] == ["y", "z"] and items[1].data["page"] == 3
    for body, message in [('{"answer": "x"}', "line 1: needs a non-empty"), ("{not json", "line 1: not JSON"),
                          ('{"question": "q", "page": 0}', "page must be a positive integer"),
                          ('{"id": "a", "question": "q"}\n{"id": "a", "question": "r"}', "id 'a' is used twice")]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(body)
        with pytest.raises(ValueError, match=message):
            load_jsonl(bad)


@pytest.mark.unit
def test_pairs_overrides_and_gates(settings):
    assert parse_pairs(["search_mode=bm25", "k = 5"], "--set") == {"search_mode": "bm25", "k": "5"}
    with pytest.raises(EvaluationError, match="not KEY=VALUE"):
        parse_pairs(["oops"], "--set")
    changed = apply_overrides(settings, {"answer_k": "7", "search_mode": "dense"})
    assert changed.answer_k == 7 and changed.search_mode == "dense" and changed.data_dir == settings.data_dir
    with pytest.raises(EvaluationError, match="unknown setting"):
        apply_overrides(settings, {"no_such_setting": "1"})
    with pytest.raises(EvaluationError, match="bad setting override"):
        apply_overrides(settings, {"answer_k": "many"})
    metrics = {"recall@5": 0.8, "ndcg@10": 0.5, "note": None}
    assert check_gates(metrics, {"recall@5": "0.75"}) == []
    assert check_gates(metrics, {"ndcg@10": "0.6"}) == ["ndcg@10 = 0.5000 is below 0.6"]
    assert "not measured by this run" in check_gates(metrics, {"mrr@10": "0.1"})[0]


@pytest.mark.unit
def test_fingerprint_follows_bytes(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    fp1 = fingerprint([tmp_path / "a.txt"], tmp_path)
    assert fp1 == fingerprint([tmp_path / "a.txt"], tmp_path)
    (tmp_path / "a.txt").write_text("two")
    assert fingerprint([tmp_path / "a.txt"], tmp_path) != fp1


@pytest.mark.unit
def test_document_runtime_keys_the_eval_collection_but_torch_keeps_old_names(settings):
    torch = settings.model_copy(update={"embedding_runtime": "torch", "embedding_model": "minilm"})
    int8 = settings.model_copy(update={"embedding_runtime": "onnx-int8", "embedding_model": "minilm"})
    fp = "ab" * 32
    # the name torch-built collections had before the runtime was part of the key
    old_key = repr([getattr(torch, k) for k in ("chunk_tokens", "chunk_overlap_tokens", "embedding_model_path")] + [None])
    assert collection_name("beir", fp, torch, {}) == f"beir-{fp[:12]}-{hashlib.sha256(old_key.encode()).hexdigest()[:6]}"
    assert collection_name("beir", fp, int8, {}) != collection_name("beir", fp, torch, {})
    # the query runtime does not change what is stored
    assert collection_name("beir", fp, int8.model_copy(update={"query_embedding_runtime": "torch"}), {}) == \
        collection_name("beir", fp, int8, {})
    # the fine-tuned embedder (the default) stores other vectors: its own collections
    tuned = int8.model_copy(update={"embedding_model": "minilm-docintel"})
    assert collection_name("beir", fp, tuned, {}) != collection_name("beir", fp, int8, {})
    assert collection_name("beir", fp, settings, {}) == collection_name("beir", fp, tuned, {})


@pytest.mark.unit
def test_a_release_with_new_tuned_weights_gets_new_eval_collections(settings, tmp_path, monkeypatch):
    """Rerunning an evaluation after an upgrade that ships other embedder weights must not
    reuse the collection the old weights embedded (its index refuses the new encoder)."""
    import json
    import shutil

    from ingestion import embedding

    fp = "ab" * 32
    tuned = settings.model_copy(update={"embedding_model": "minilm-docintel"})
    before = collection_name("beir", fp, tuned, {})
    shipped = tmp_path / "model"
    shutil.copytree(embedding.shipped_embedder_dir(), shipped)
    manifest = json.loads((shipped / "manifest.json").read_text())
    (shipped / "manifest.json").write_text(json.dumps({**manifest, "sha256": "0" * 64}))
    monkeypatch.setattr(embedding, "shipped_embedder_dir", lambda: shipped)
    assert collection_name("beir", fp, tuned, {}) != before


@pytest.mark.unit
def test_sample_is_seeded_and_keeps_order():
    from evaluation.suites.base import EvalItem

    items = [EvalItem(str(i), {}) for i in range(20)]
    a, b = sample(items, 5, seed=1), sample(items, 5, seed=1)
    assert a == b and len(a) == 5 and [int(i.id) for i in a] == sorted(int(i.id) for i in a)
    assert sample(items, 5, seed=2) != a and sample(items, None, 0) == items


@pytest.mark.slow
def test_a_terminated_run_is_stored_as_interrupted_and_can_resume(llm_settings, qa_set):
    """`kill` or a CI timeout (SIGTERM) mid-run leaves the run resumable, not "running" forever."""
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)
    run = run_evaluation(llm_settings, RunRequest("jsonl", qa_set), progress=False,
                         on_item=lambda done, total: os.kill(os.getpid(), signal.SIGTERM))
    assert run["status"] == "interrupted" and run["items_done"] == 1
    assert f"--resume {run['id']}" in run["error"]
    assert signal.getsignal(signal.SIGTERM) is before  # the process's own handling is back
    run = run_evaluation(llm_settings, RunRequest("jsonl", qa_set, resume=run["id"]), progress=False)
    assert run["status"] == "completed" and run["items_done"] == 3


@pytest.mark.slow
def test_jsonl_run_is_stored_resumed_and_reported(llm_settings, qa_set):
    # Interrupt after the first item (as Ctrl-C would), then resume: nothing is redone.
    calls = []

    def stop_after_first(done, total):
        calls.append(done)
        raise KeyboardInterrupt

    run = run_evaluation(llm_settings, RunRequest("jsonl", qa_set), progress=False, on_item=stop_after_first)
    assert run["status"] == "interrupted" and "--resume" in run["error"] and run["items_done"] == 1

    resumed_calls = []
    run = run_evaluation(llm_settings, RunRequest("jsonl", qa_set, resume=run["id"][:22]), progress=False,
                         on_item=lambda done, total: resumed_calls.append((done, total)))
    assert run["status"] == "completed" and run["items_done"] == 3 and run["items_failed"] == 0
    assert resumed_calls == [(2, 3), (3, 3)]

    store = RunStore(Store.from_settings(llm_settings))
    items = {it["item_id"]: it for it in store.items(run["id"])}
    assert set(items) == {"w1", "r1", "n1"}
    # The part number and the return window are found in the right document and page.
    assert items["w1"]["scores"]["doc_recall@1"] == 1.0 and items["w1"]["scores"]["page_recall@5"] == 1.0
    assert items["r1"]["scores"]["doc_recall@1"] == 1.0
    assert "correct_abstention" in items["n1"]["scores"] and "token_f1" not in items["n1"]["scores"]
    # An abstention says why, so an evaluator can tell weak retrieval from a refusing model.
    for it in items.values():
        assert bool(it["output"]["abstain_reason"]) == it["output"]["abstained"]
    m = run["metrics"]
    assert m["doc_recall@1"] == 1.0 and m["items"] == 3.0 and 0.0 <= m["token_f1"] <= 1.0
    cfg = run["config"]
    assert cfg["settings"]["llm_model"] == llm_settings.llm_model and "openai_api_key" not in cfg["settings"]
    assert len(cfg["models"]["embedding"]["sha256"]) == 64 and cfg["models"]["llm"]["sha256"]
    assert len(run["data_fingerprint"]) == 64
    report = Path(run["report_path"])
    assert report.is_file() and "doc_recall@1" in report.read_text()

    with pytest.raises(EvaluationError, match="already completed"):
        run_evaluation(llm_settings, RunRequest("jsonl", qa_set, resume=run["id"]), progress=False)


@pytest.mark.slow
def test_one_bad_item_does_not_sink_the_run(llm_settings, tmp_path):
    (tmp_path / "ok.pdf").write_bytes(make_pdf(["Support is open Monday to Friday."]))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "ok", "question": "When is support open?", "answer": "Monday to Friday", "document": "ok.pdf"})
                 + "\n" + json.dumps({"id": "bad", "question": "Anything?", "answer": "x", "document": "broken.pdf"}) + "\n")
    run = run_evaluation(llm_settings, RunRequest("jsonl", q), progress=False)
    assert run["status"] == "completed" and run["items_done"] == 2 and run["items_failed"] == 1
    items = {it["item_id"]: it for it in RunStore(Store.from_settings(llm_settings)).items(run["id"])}
    assert "was not indexed" in items["bad"]["error"] and items["ok"]["error"] is None


@pytest.mark.unit
def test_bad_data_path_is_a_clear_error(settings, tmp_path):
    with pytest.raises(EvaluationError, match="does not exist"):
        run_evaluation(settings, RunRequest("jsonl", tmp_path / "missing.jsonl"))
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        get_suite("nope")


def _store_run(runs: RunStore, run_id: str, scores: dict[str, dict]) -> dict:
    runs.create(run_id, suite="jsonl", data_path="/data/q.jsonl", data_fingerprint="f" * 64, limit=None, seed=0,
                options={}, overrides={}, config={"settings": {"answer_k": 4}}, item_ids=list(scores), headline="token_f1")
    for n, (item_id, s) in enumerate(scores.items()):
        runs.record_item(run_id, n, ItemResult(item_id, s, {}, 1.0))
    runs.finish(run_id, "completed")
    return runs.get(run_id)


@pytest.mark.unit
def test_run_store_and_compare_on_postgres_and_sqlite(any_settings):
    runs = RunStore(Store.from_settings(any_settings))
    a = _store_run(runs, "run-a", {f"q{i}": {"token_f1": 0.2, "exact_match": 0.0} for i in range(10)})
    b_scores = {f"q{i}": {"token_f1": 0.6, "exact_match": 0.0} for i in range(10)}
    b_scores["q3"]["token_f1"] = 0.2  # one item unchanged in f1
    b = _store_run(runs, "run-b", b_scores)
    # A second write of an item is ignored: a retried task never duplicates results.
    runs.record_item("run-a", 0, ItemResult("q0", {"token_f1": 1.0}, {}, 1.0))
    assert runs.item_count("run-a") == 10 and runs.get("run-a")["items_done"] == 10
    assert [r["id"] for r in runs.list("jsonl")] == ["run-b", "run-a"]  # newest first
    assert runs.list("beir") == []
    with pytest.raises(Exception, match="ambiguous"):
        runs.resolve("run-")

    cmp = compare_runs(a, runs.items("run-a"), b, runs.items("run-b"), n_boot=200)
    f1 = next(m for m in cmp["metrics"] if m["metric"] == "token_f1")
    assert f1["a"] == pytest.approx(0.2) and f1["b"] == pytest.approx(0.2 + 0.4 * 9 / 10)
    assert f1["delta"] == pytest.approx(0.36) and f1["significant"] and 0.0 < f1["ci_low"] <= f1["ci_high"] <= 0.4
    em = next(m for m in cmp["metrics"] if m["metric"] == "exact_match")
    assert em["delta"] == 0.0 and not em["significant"]
    assert cmp["changed_count"] == 9 and "q3" not in {c["item_id"] for c in cmp["changed_items"]}
    assert cmp["same_data"] and cmp["n_shared"] == 10
    runs.delete("run-a")
    with pytest.raises(Exception, match="no evaluation run"):
        runs.get("run-a")


@pytest.mark.unit
def test_a_run_where_every_item_fails_is_failed(settings, tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "a", "question": "Anything?", "answer": "x", "document": "broken.pdf"}) + "\n")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    run = run_evaluation(settings, RunRequest("jsonl", q), progress=False)
    assert run["status"] == "failed" and "every item failed" in run["error"] and "was not indexed" in run["error"]
