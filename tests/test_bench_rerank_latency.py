"""bench.rerank_latency times the reranking step the way the product runs it: after ingestion
kept each chunk's sentence vectors, an answer's rerank reads them instead of embedding."""
import json

import pytest


@pytest.mark.slow
def test_the_stored_run_reads_the_sentence_vectors_ingestion_kept(tmp_path, monkeypatch):
    from bench.rerank_latency import main
    from core.settings import Settings
    from workers.runtime import Runtime

    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models", embedding_model="minilm")
    rt = Runtime.create(settings)
    texts = [(f"clause-{i}.txt", (f"Section {i}. The supplier shall deliver item {i} within {i + 3} days. "
                                  f"Either party may terminate on {i + 10} days notice. Fees are due monthly.").encode())
             for i in range(12)]
    rt.ingest_texts(texts, "c", tenant="t")
    queries = tmp_path / "q.txt"
    queries.write_text("termination notice\ndelivery time\nwhen are fees due\n")
    out = tmp_path / "rr.json"
    monkeypatch.setenv("DOCINTEL_EMBEDDING_MODEL", "minilm")  # the bench reads its settings from the environment
    monkeypatch.setenv("DOCINTEL_MODELS_DIR", str(tmp_path / "models"))
    assert main(["--data-dir", str(tmp_path / "data"), "--collection", "c", "--tenant", "t", "--queries", str(queries),
                 "--candidates", "8", "--k", "5", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["queries"] == 3
    assert report["stored_run_chunks_embedded"] == 0  # every candidate's sentences came from the rows
    assert report["rerank_stored_ms"]["p50"] > 0 and report["rerank_cold_ms"]["p50"] > 0
