"""The beir, squad and emanual suites: load() on small generated files, and one small
end-to-end run per suite through the real product (MiniLM embedder, SQLite, FAISS)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.suites import get_suite
from evaluation.suites.base import EvalContext, ItemResult, Suite


# -- generated data sets ---------------------------------------------------------------------
def write_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "c1", "title": "Governing law", "text": "This agreement is governed by the laws of the State of New York."},
        {"_id": "c2", "title": "", "text": "Either party may terminate this agreement with thirty days written notice."},
        {"_id": "c3", "title": "Confidentiality", "text": "The receiving party shall keep all confidential information secret."},
        {"_id": "c4", "text": "Payment is due within sixty days of the invoice date."},
    ]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n")
    queries = [{"_id": "q2", "text": "termination for convenience on notice"},
               {"_id": "q1", "text": "which state's law governs the agreement"},
               {"_id": "q3", "text": "keeping information confidential"},
               {"_id": "q4", "text": "unjudged query"}]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries) + "\n")
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tc1\t4\nq1\tc2\t0\nq2\tc2\t3\n")
    (root / "qrels" / "valid.tsv").write_text("query-id\tcorpus-id\tscore\nq2\tc4\t1\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq3\tc3\t2\n")
    return root


POLICY_A = [
    "We collect your email address and your nickname when you register an account.",
    "We share personal information with advertising partners only with your consent.",
    "You can delete your account at any time from the settings page.",
]
POLICY_B = ["Cookies are used to remember your preferences on this site.", "We never sell your data."]


def write_squad(path: Path) -> Path:
    def para(text: str, qas: list) -> dict:
        return {"context": text, "qas": qas}

    def qa(qid: str, question: str, answer: str, context: str, kind: str = "") -> dict:
        out = {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}
        if kind:
            out["type"] = kind
        return out

    data = {"version": "1.1", "data": [
        {"title": "a.com", "paragraphs": [
            para(POLICY_A[0], [qa("x1", "What data is collected?", "email address", POLICY_A[0], "First Party Collection|||x|||y")]),
            para(POLICY_A[1], [qa("x2", "Who do you share data with?", "advertising partners", POLICY_A[1], "Third Party Sharing|||x")]),
            para(POLICY_A[2], [qa("x3", "What data is collected?", "account", POLICY_A[2], "First Party Collection|||z")]),
        ]},
        {"title": "b.org", "paragraphs": [
            para(POLICY_B[0], [qa("y1", "What are cookies used for?", "remember your preferences", POLICY_B[0])]),
            para(POLICY_B[1], [qa("x1", "Is data sold?", "never sell", POLICY_B[1])]),  # a repeated id
        ]},
    ]}
    path.write_text(json.dumps(data))
    return path


def write_emanual(root: Path) -> Path:
    corpus = {
        "section_0": {"id": "section_0", "title": "Quick Guides", "text": ["Learn the frequently used functions."]},
        "section_1": {"id": "section_1", "title": "Connecting the Remote", "text": [
            "Point the remote at the TV and press and hold the Back and Play buttons for 3 seconds to pair it.", "- 3 -"]},
        "section_2": {"id": "section_2", "title": "Smart Features", "text": ["Use apps and media on your TV."]},
        "section_3": {"id": "section_3", "title": "Using the Web Browser", "text": [
            "Open the Internet app to browse web pages.", "Bookmarks", "Save a page to your bookmarks with the star icon."]},
    }
    (root / "smart_tv_remote_qa" / "Normal Q&A").mkdir(parents=True)
    (root / "smart_tv_remote_qa" / "Yes_No Q&A").mkdir(parents=True)
    (root / "smart_tv_remote_manual_corpus.json").write_text(json.dumps(corpus))
    normal = {"All_Questions": [
        {"Section Hierarchy": "Quick Guides>Connecting the Remote", "Link": "", "Question": "How do I pair the remote with the TV?",
         "Answer": "Press and hold the Back and Play buttons for 3 seconds."},
        {"Section Hierarchy": "Smart Features>Using the Web Browser>Bookmarks", "Link": "",
         "Question": "How do I save a web page to bookmarks?", "Answer": "Select the star icon."},
        {"Section Hierarchy": "Nowhere>Unknown heading", "Link": "", "Question": "What is unmatched?", "Answer": "x"},
    ]}
    (root / "smart_tv_remote_qa" / "Normal Q&A" / "normal.json").write_text(json.dumps(normal, indent=2))
    # the hand-written files are not always JSON: a trailing comma is read by the loose parser
    (root / "smart_tv_remote_qa" / "Yes_No Q&A" / "yes.json").write_text(
        '{\n "Section Hierarchy": "Smart Features>Using the Web Browser",\n "Question": "Can I browse the web?",\n'
        ' "Answer": "Yes, with the Internet app.",\n}\n')
    return root


# -- load ---------------------------------------------------------------------------------------
@pytest.mark.unit
def test_suites_conform_to_the_protocol():
    for name in ("beir", "squad", "emanual"):
        suite = get_suite(name)
        assert isinstance(suite, Suite) and suite.name == name and suite.headline


@pytest.mark.unit
def test_beir_load_keeps_judgements_per_split(tmp_path):
    root = write_beir(tmp_path / "beir")
    suite = get_suite("beir")
    items = suite.load(root)
    assert [it.id for it in items] == ["q1", "q2", "q3"]  # judged somewhere, sorted; q4 is unjudged
    q2 = items[1].data
    assert q2["query"] == "termination for convenience on notice"
    assert q2["qrels"] == {"train": {"c2": 3}, "valid": {"c4": 1}}
    assert items[2].data["qrels"] == {"test": {"c3": 2}}
    assert [p.name for p in suite.files(root)] == ["corpus.jsonl", "queries.jsonl", "test.tsv", "train.tsv", "valid.tsv"]
    assert [it.id for it in suite.load(root)] == [it.id for it in items]  # stable


@pytest.mark.unit
def test_squad_load_items_twins_and_unique_ids(tmp_path):
    path = write_squad(tmp_path / "dev.json")
    items = get_suite("squad").load(path)
    assert [it.id for it in items] == ["x1", "x2", "x3", "y1", "x1#2"]
    first = items[0].data
    assert first["doc"] == 0 and first["paragraph"] == 0 and first["answers"] == [["email address", 16]]
    assert first["category"] == "First Party Collection"
    assert first["twin_paragraphs"] == [0, 2]  # the same question asked of paragraph 2 of the same policy
    assert items[1].data["twin_paragraphs"] == [1]
    assert items[4].data["doc"] == 1 and items[4].data["category"] == ""


@pytest.mark.unit
def test_emanual_load_resolves_gold_sections(tmp_path):
    root = write_emanual(tmp_path / "em")
    suite = get_suite("emanual")
    items = suite.load(root)
    by_q = {it.data["question"]: it for it in items}
    assert set(by_q) == {"How do I pair the remote with the TV?", "How do I save a web page to bookmarks?", "Can I browse the web?"}
    assert by_q["How do I pair the remote with the TV?"].data["gold_sections"] == ["section_1"]
    assert by_q["How do I save a web page to bookmarks?"].data["gold_sections"] == ["section_3"]  # heading inside the section
    assert by_q["Can I browse the web?"].data["type"] == "Yes_No Q&A"
    assert by_q["How do I pair the remote with the TV?"].id == "smart_tv_remote_qa/Normal Q&A/normal.json#1"
    assert by_q["How do I save a web page to bookmarks?"].id.endswith("normal.json#2")
    assert len(suite.files(root)) == 3


# -- end to end ---------------------------------------------------------------------------------
def _run(settings, name: str, data: Path, options: dict[str, str], limit: int | None = None
         ) -> tuple[list[ItemResult], object, EvalContext]:
    from workers.runtime import Runtime

    rt = Runtime.create(settings)
    suite = get_suite(name)
    items = suite.load(data)[:limit]
    ctx = EvalContext(rt, collection=f"eval-{name}", tenant="eval", data=data, options=options)
    suite.prepare(ctx, items)
    suite.prepare(ctx, items)  # a resumed run prepares again: a no-op
    results = [suite.run_item(ctx, it) for it in items]
    agg = suite.aggregate([ItemResult.from_dict(r.to_dict()) for r in results])  # what the run store hands back
    json.dumps([r.to_dict() for r in results])  # outputs are JSON-serialisable
    rt.store.engine.dispose()
    return results, agg, ctx


@pytest.mark.slow
def test_beir_end_to_end(settings, tmp_path):
    root = write_beir(tmp_path / "beir")
    results, agg, ctx = _run(settings.model_copy(update={"search_mode": "bm25"}), "beir", root, {})
    by_id = {r.item_id: r for r in results}
    assert ctx.state["ingest"]["documents"] == 4 and ctx.runtime.store.collection("eval", "eval-beir").id
    q1 = by_id["q1"]
    assert q1.scores["ndcg@10"] == 1.0 and q1.scores["judged_ndcg@10"] == 1.0 and q1.scores["mrr@10"] == 1.0
    assert q1.output["top10"][0] == ["c1", 4] and q1.output["relevant_ranks"] == {"c1": 1}
    assert q1.output["judged_top10"][0][0] == "c1" and {d for d, _ in q1.output["judged_top10"]} <= {"c1", "c2"}
    assert by_id["q3"].output == {"skipped": "not judged in splits ['train', 'valid']"}
    assert agg.metrics["judged_ndcg@10"] is not None and agg.metrics["latency_ms_p50"] > 0
    curve = next(c for c in agg.charts if c.kind == "line")
    ys = curve.series["whole corpus"]["y"]
    assert curve.series["whole corpus"]["x"] == list(range(1, 21)) and ys[0] >= 0.5  # q1 is found at rank 1
    assert all(a <= b for a, b in zip(ys, ys[1:]))


@pytest.mark.slow
def test_beir_plain_baseline_ranks_whole_documents_without_ingesting(settings, tmp_path):
    root = write_beir(tmp_path / "beir")
    results, agg, ctx = _run(settings, "beir", root, {"pipeline": "plain"})
    by_id = {r.item_id: r for r in results}
    assert "ingest" not in ctx.state and not ctx.runtime.store.list_collections("eval")  # nothing ingested
    q1 = by_id["q1"]
    assert q1.output["top10"][0] == ["c1", 4] and q1.scores["judged_ndcg@10"] == 1.0
    assert {d for d, _ in q1.output["judged_top10"]} == {"c1", "c2"}  # the pool, and only the pool
    assert by_id["q2"].output["top10"][0][0] == "c2"
    assert agg.metrics["judged_ndcg@10"] is not None


@pytest.mark.unit
def test_beir_refuses_an_unknown_pipeline(settings, tmp_path):
    root = write_beir(tmp_path / "beir")
    from workers.runtime import Runtime

    rt = Runtime.create(settings)
    ctx = EvalContext(rt, collection="eval-beir", tenant="eval", data=root, options={"pipeline": "fancy"})
    with pytest.raises(ValueError, match="pipeline=fancy: choose one of product, plain"):
        get_suite("beir").prepare(ctx, get_suite("beir").load(root))
    rt.store.engine.dispose()


@pytest.mark.slow
def test_squad_end_to_end_retrieval_only(settings, tmp_path):
    path = write_squad(tmp_path / "dev.json")
    results, agg, _ = _run(settings, "squad", path, {"answers": "false"})
    assert all(r.error is None for r in results)
    for r in results:  # one chunk per tiny policy: the gold paragraph is always rank 1
        assert r.scores["recall@1"] == 1.0 and r.scores["answer_recall@5"] == 1.0 and "token_f1" not in r.scores
        assert r.scores["random_recall@5"] == 1.0  # so 5 random chunks of the policy hold it too
    assert agg.metrics["recall@5"] == 1.0 and "exact_match" not in agg.metrics
    assert agg.metrics["random_recall@5"] == 1.0
    assert "By question category" in agg.tables


@pytest.mark.slow
def test_emanual_end_to_end_retrieval_only(settings, tmp_path):
    root = write_emanual(tmp_path / "em")
    suite_results, agg, _ = _run(settings, "emanual", root, {"answers": "false"})
    pair = next(r for r in suite_results if r.item_id.endswith("normal.json#1"))
    assert pair.scores["section_recall@5"] == 1.0 and pair.output["gold"] == ["section_1"]
    assert agg.metrics["section_recall@5"] is not None and "rouge_l" not in agg.metrics
    assert set(agg.tables["By question type"]) == {"Normal Q&A", "Yes_No Q&A"}


@pytest.mark.slow
def test_emanual_answers_with_the_tiny_model(llm_settings, tmp_path):
    root = write_emanual(tmp_path / "em")
    settings = llm_settings.model_copy(update={"answer_max_tokens": 48})  # the pipeline, not the prose, is tested
    results, agg, _ = _run(settings, "emanual", root, {}, limit=1)
    for r in results:
        assert r.error is None
        assert 0.0 <= r.scores["rouge_l"] <= 1.0 and 0.0 <= r.scores["extractive_rouge_l"] <= 1.0
        assert r.scores["abstained"] in (0.0, 1.0) and r.scores["answer_latency_ms"] > 0
        if r.scores["citation_precision"] is not None:  # the product only returns checked citations
            assert r.scores["citation_precision"] == 1.0
    assert {"rouge_l", "extractive_rouge_l", "citation_in_gold_section"} <= set(agg.metrics)
    assert any(c.kind == "bar" for c in agg.charts)
