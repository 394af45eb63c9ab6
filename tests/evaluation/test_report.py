import base64
import re

import pytest

from evaluation.report import (
    fmt_delta, fmt_num, lower_is_better, render_compare_report, render_run_report, write_compare_report,
    write_run_report,
)

pytestmark = pytest.mark.unit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert(1)</script>"


def make_run(status: str = "completed", **extra) -> dict:
    run = {
        "id": "20261126-231502-beir-3f2a9c", "suite": "beir", "status": status, "data_path": "/data/scifact",
        "data_fingerprint": "ab" * 32, "limit": 20, "seed": 7, "options": {"split": "test"},
        "overrides": {"retrieval.top_k": 20, "database_url": "postgresql://u:hunter2@db/x"},
        "config": {
            "settings": {"retrieval": {"top_k": 20, "hybrid": True}, "api_token": "tok-secret"},
            "models": {"embedder": {"path": "/models/e5", "sha256": "0123456789abcdef" * 4}},
            "git": {"commit": "deadbeefcafe0123456789", "dirty": False},
            "versions": {"python": "3.11.9"}, "machine": {"cpus": 2},
        },
        "created_at": "2026-11-26T23:15:02.123456+00:00", "finished_at": "2026-11-26T23:20:00+00:00",
        "durations": {"prepare_s": 12.5, "items_s": 280.25, "total_s": 292.75},
        "item_count": 4, "items_done": 4, "items_failed": 1,
        "metrics": {"ndcg@10": 0.5734159, "recall@100": 0.91, "mrr@10": None, "p95_seconds": 1.23456},
        "headline": "ndcg@10",
        "charts": [
            {"kind": "line", "title": "Recall@k", "x_label": "k", "y_label": "recall",
             "series": {"hybrid": {"x": [1, 5, 10, 100], "y": [0.3, 0.6, 0.7, 0.91]},
                        "bm25": {"x": [1, 5, 10, 100], "y": [0.2, 0.5, None, 0.85]}}},
            {"kind": "bar", "title": "Accuracy per type", "x_label": "type", "y_label": "accuracy",
             "series": {"A": {"x": ["who", "when"], "y": [0.5, 0.75]}, "B": {"x": ["who", "when"], "y": [0.6, None]}}},
            {"kind": "bar", "title": "AUPR per category", "x_label": "category", "y_label": "AUPR",
             "series": {"aupr": {"x": [f"A rather long clause category name {i}" for i in range(14)],
                                 "y": [i / 14 for i in range(14)]}}},
            {"kind": "hist", "title": "Seconds per item", "x_label": "seconds", "y_label": "items",
             "series": {"items": {"x": [0.5, 0.7, 1.1, 0.9, 2.5]}}},
            {"kind": "pie", "title": "Unsupported kind", "x_label": "", "y_label": "", "series": {}},
        ],
        "tables": {"Per type": {"who": {"accuracy": 0.5, "n": 12}, "when": {"accuracy": None, "n": 3}}},
        "error": None,
    }
    run.update(extra)
    return run


def make_items() -> list[dict]:
    return [
        {"item_id": "q1", "scores": {"ndcg@10": 0.9, "recall@100": 1.0}, "output": {"ranked": ["d1"]}, "seconds": 0.5, "error": None},
        {"item_id": EVIL, "scores": {"ndcg@10": 0.1, "recall@100": 0.5}, "output": {"answer": EVIL}, "seconds": 0.7, "error": None},
        {"item_id": "q3", "scores": {"ndcg@10": None, "recall@100": 0.2}, "output": {}, "seconds": 0.4, "error": None},
        {"item_id": "q4", "scores": {}, "output": {}, "seconds": 0.1, "error": "RuntimeError: index <b>missing</b>"},
    ]


def images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_run_report_has_metrics_images_and_items(tmp_path):
    path = write_run_report(make_run(), make_items(), tmp_path / "sub" / "r.html")
    html = path.read_text(encoding="utf-8")
    assert "20261126-231502-beir-3f2a9c" in html and "beir" in html
    assert "0.5734" in html and "0.5734159" not in html  # 4 significant digits
    assert "1.235" in html and "–" in html  # None metric as a dash
    imgs = images(html)
    assert len(imgs) == 4 and all(i.startswith(PNG_MAGIC) for i in imgs)
    size = [(int.from_bytes(i[16:20], "big"), int.from_bytes(i[20:24], "big")) for i in imgs]
    assert size[2][1] > size[1][1] > 0  # 14 long category labels: horizontal bars, a taller image
    assert all(w <= 1200 for w, _ in size)
    assert "Could not draw this chart" in html and "pie" in html  # the bad chart is named, the report survives
    assert "Per type" in html and "accuracy" in html
    # failed item with its (escaped) error; worst item first
    assert "RuntimeError: index &lt;b&gt;missing&lt;/b&gt;" in html
    assert html.index("&lt;script&gt;alert(1)&lt;/script&gt;") < html.index(">q1<")
    assert "1 item failed" in html
    # configuration: overrides, short hashes, secrets hidden
    assert "retrieval.top_k" in html and "0123456789ab" in html and "deadbeefcafe" in html
    assert "hunter2" not in html and "tok-secret" not in html
    assert not list(tmp_path.glob("sub/.*.tmp"))  # atomic write left no temp file


def test_run_report_escapes_everything():
    chart = {"kind": "bar", "title": EVIL, "x_label": EVIL, "y_label": "", "series": {EVIL: {"x": [EVIL], "y": [1.0]}}}
    html = render_run_report(make_run(suite=EVIL, overrides={EVIL: EVIL}, tables={EVIL: {EVIL: {EVIL: EVIL}}},
                                      charts=[chart], error=EVIL), make_items())
    assert EVIL not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("status", ["interrupted", "running", "failed"])
def test_run_report_warns_when_not_completed(status):
    html = render_run_report(make_run(status=status, items_done=2, error="boom" if status == "failed" else None, charts=[]), [])
    assert f'class="badge {status}"' in html
    assert {"interrupted": "was interrupted after 2 of 4", "running": "still running", "failed": "This run failed: boom"}[status] in html


@pytest.mark.parametrize("where", ["metrics", "options"])
def test_run_report_warns_for_in_sample(where):
    run = make_run(items_failed=0, charts=[])
    run[where] = {**run[where], "in_sample": 1.0 if where == "metrics" else "true"}
    assert "In-sample scores" in render_run_report(run, [])
    assert "In-sample" not in render_run_report(make_run(options={"in_sample": "false"}, charts=[]), [])


def test_run_report_with_nothing_measured():
    run = make_run(status="running", metrics={}, charts=[], tables={}, items_done=0, items_failed=0, durations={},
                   config={}, overrides={}, headline=None)
    html = render_run_report(run, [])
    assert "No metrics" in html and "still running" in html


def test_worst_items_are_capped_and_lower_is_better_respected():
    items = [{"item_id": f"i{n}", "scores": {"seconds": float(n)}, "output": {}, "seconds": 0.0, "error": None}
             for n in range(80)]
    html = render_run_report(make_run(headline="seconds", metrics={"seconds": 40.0}, charts=[]), items, max_items=10)
    assert ">i79<" in html and ">i70<" in html and ">i69<" not in html


def test_importing_the_module_does_not_import_matplotlib():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", "import sys, evaluation.report; print('matplotlib' in sys.modules)"],
                         cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def make_comparison() -> dict:
    a = make_run()
    b = make_run(id="20261127-101010-beir-77aa00", overrides={"retrieval.top_k": 50}, status="interrupted",
                 items_done=3)
    for r in (a, b):
        r.pop("charts"), r.pop("tables")
    return {
        "a": a, "b": b, "suite": "beir", "headline": "ndcg@10", "n_shared": 3,
        "metrics": [
            {"metric": "recall@100", "a": 0.91, "b": 0.95, "delta": 0.04, "ci_low": 0.01, "ci_high": 0.07, "n_items": 3},
            {"metric": "ndcg@10", "a": 0.57, "b": 0.52, "delta": -0.05, "ci_low": -0.09, "ci_high": -0.012, "n_items": 3},
            {"metric": "mrr@10", "a": 0.4, "b": 0.41, "delta": 0.01, "ci_low": -0.02, "ci_high": 0.03, "n_items": 3},
            {"metric": "p95_seconds", "a": 1.2, "b": 2.9, "delta": 1.7, "ci_low": 1.1, "ci_high": 2.2, "n_items": 3},
            {"metric": "ece", "a": None, "b": 0.1, "delta": None, "ci_low": None, "ci_high": None, "n_items": 3},
        ],
        "changed_items": [{"item_id": EVIL, "scores_a": {"ndcg@10": 0.9}, "scores_b": {"ndcg@10": 0.4}, "changed": ["ndcg@10"]}],
        "changed_count": 1, "only_in_a": 1, "only_in_b": 0, "same_data": True,
        "settings_diff": {"retrieval.top_k": [20, 50], "settings.api_token": ["tok-old-secret", "tok-new-secret"]},
        "bootstrap": {"resamples": 1000, "seed": 0},
    }


def test_compare_report(tmp_path):
    html = write_compare_report(make_comparison(), tmp_path / "c.html").read_text(encoding="utf-8")
    assert "20261126-231502-beir-3f2a9c" in html and "20261127-101010-beir-77aa00" in html
    assert "retrieval.top_k" in html and "tok-old-secret" not in html  # secret settings hidden in the diff
    assert "−0.05" in html and "+0.04" in html and "[−0.09, −0.012]" in html
    # recall up: better; ndcg down: worse; mrr CI spans 0; p95_seconds up is worse (lower is better)
    rows = {m: html[html.index(f"<td class=\"k\">{m}</td>"):].split("</tr>")[0]
            for m in ("recall@100", "ndcg@10", "mrr@10", "p95_seconds")}
    assert "▲ better" in rows["recall@100"] and "▼ worse" in rows["ndcg@10"]
    assert "no clear change" in rows["mrr@10"] and "▼ worse" in rows["p95_seconds"]
    imgs = images(html)
    assert len(imgs) == 1 and imgs[0].startswith(PNG_MAGIC)
    assert EVIL not in html and "&lt;script&gt;" in html
    assert "is interrupted" in html and "1 item(s) scored only in A" in html


def test_compare_report_without_deltas():
    cmp = make_comparison()
    cmp["metrics"], cmp["changed_items"], cmp["changed_count"], cmp["settings_diff"] = [], [], 0, {}
    html = render_compare_report(cmp)
    assert "No metric measured by both runs" in html and not images(html)
    assert "same configuration" in html


def test_number_formatting():
    assert fmt_num(None) == "–" and fmt_num(0.5734159) == "0.5734" and fmt_num(12345.6) == "12,346"
    assert fmt_num(3) == "3" and fmt_num(0.0) == "0" and fmt_num(2e-6) == "2.00e-06"
    assert fmt_delta(0.04) == "+0.04" and fmt_delta(-0.05) == "−0.05" and fmt_delta(None) == "–"
    assert lower_is_better("p95_seconds") and lower_is_better("error_rate") and not lower_is_better("recall@100")
    assert not lower_is_better("precision")
