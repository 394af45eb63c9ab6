"""bench.retrieval: the suites' metrics per mode side by side, with the runs to compare."""
import pytest

from bench.retrieval import SHOWN_SETTINGS, format_report, main


@pytest.mark.unit
def test_report_lays_out_the_suite_metrics_per_mode():
    def run(rid, ndcg):
        return {"run_id": rid, "status": "completed", "error": None, "items": 57, "seconds": 1.0,
                "metrics": {"judged_ndcg@10": ndcg, "latency_ms_p50": 35.25}}

    settings = {k: 0 for k in SHOWN_SETTINGS}
    text = format_report({"acord": {"bm25": run("r-bm25", 0.495), "hybrid": run("r-hyb", 0.576)}}, settings, {"reranker": "none"})
    assert "(overrides: reranker=none)" in text and "suite beir, 57 items" in text
    bm25 = next(line for line in text.splitlines() if line.strip().startswith("bm25"))
    assert "0.4950" in bm25 and "35.2" in bm25 and bm25.count(" -") >= 5  # unmeasured columns show "-"
    assert "docintel eval compare r-bm25 r-hyb" in text


@pytest.mark.unit
def test_search_mode_is_chosen_by_modes_not_set():
    with pytest.raises(SystemExit):
        main(["--acord", "x", "--set", "search_mode=bm25"])
