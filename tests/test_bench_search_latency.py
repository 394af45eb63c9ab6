"""bench.search_latency runs end to end through the product's index factories (it once
broke silently when CollectionIndex's constructor changed)."""
import json

import pytest


@pytest.mark.slow
def test_a_small_latency_run_times_every_mode_on_a_graph_index(tmp_path, capsys):
    from bench.search_latency import main

    out = tmp_path / "lat.json"
    assert main(["--chunks", "600", "--queries", "5", "--hnsw-min", "300", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["chunks"] == 600 and report["hnsw"] is True
    assert set(report["modes"]) == {"dense", "bm25", "hybrid", "hybrid+rerank"}
    assert all(0 < m["p50_ms"] <= m["p95_ms"] for m in report["modes"].values())
    assert 0 <= report["graph_recall_at_k_random_vectors"] <= 1 and report["query_embedding_ms"] > 0
