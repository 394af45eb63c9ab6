"""What the web UI adds to an answer's time to first text, against the API's own figure.

    python -m bench.ui_first_token [--rounds 3] [--json OUT]

Starts `docintel serve` (the default model, embedded jobs) with its own data directory,
uploads the documents in samples/, then asks each question of samples/questions.jsonl
twice per round, once each way, alternating which goes first so drift cancels:

- API: `POST /v1/answer` with `"stream": true` from httpx; time from sending the request to
  the first `delta` event.
- UI: headless Chromium (Debian's, driven by Playwright) on the Ask page, signed in; time from
  the click on "Ask" to the first text in the answer element (a MutationObserver in the page,
  on the page's own clock).

The UI's overhead is the median of the paired differences (UI - API) for the same question.
Target (issue 16): under 100 ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.api_load import Server, ingest_job
from core.fileio import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def questions() -> list[str]:
    out = []
    for line in (ROOT / "samples" / "questions.jsonl").read_text().splitlines():
        if line.strip() and not line.startswith("//"):
            item = json.loads(line)
            if item.get("answer"):
                out.append(item["question"])
    return out


def upload_samples(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=600) as c:
        c.post("/v1/collections", json={"name": "samples"}).raise_for_status()
        files = [("files", (p.name, p.read_bytes())) for p in sorted((ROOT / "samples").iterdir())
                 if p.is_file() and p.suffix != ".jsonl"]
        ingest_job(c, "samples", files)


def api_first_text(server: Server, question: str) -> float:
    body = {"collection": "samples", "question": question, "stream": True}
    t0 = time.perf_counter()
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=600) as c:
        with c.stream("POST", "/v1/answer", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("event: delta"):
                    return time.perf_counter() - t0
                if line.startswith("event: answer"):  # an answer with no separate pieces
                    return time.perf_counter() - t0
    raise RuntimeError("no answer event")


def ui_first_text(page, question: str) -> float:
    page.goto("/#/ask")
    page.reload()  # a new conversation: a follow-up would first be rewritten by the model from its history
    page.wait_for_selector("#question")
    page.get_by_label("Your question").fill(question)
    page.evaluate("""() => {
        window.__firstText = null;
        const log = document.querySelector('#chat-log');
        const seen = log.querySelectorAll('.msg.bot').length;
        new MutationObserver((_, obs) => {
            const bots = log.querySelectorAll('.msg.bot');
            if (bots.length > seen && bots[bots.length - 1].querySelector('.answer-text').textContent.trim()) {
                window.__firstText = performance.now(); obs.disconnect();
            }
        }).observe(log, {subtree: true, childList: true, characterData: true});
        document.querySelector('.ask-form button').addEventListener('click', () => { window.__clicked = performance.now(); }, {once: true, capture: true});
    }""")
    page.get_by_role("button", name="Ask").click()
    page.wait_for_function("() => window.__firstText !== null", timeout=600_000)
    ms = page.evaluate("window.__firstText - window.__clicked")
    page.wait_for_selector("#chat-log .msg.bot:not([aria-busy])", timeout=600_000)  # let the answer finish
    return ms / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="docintel-ui-bench-") as tmp:
        server = Server(Path(tmp) / "var")
        try:
            upload_samples(server)
            key = server.headers["Authorization"].removeprefix("Bearer ")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
                page = browser.new_context(base_url=server.url).new_page()
                page.goto("/")
                page.get_by_label("API key").fill(key)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_selector("#topbar:not([hidden])")
                api_first_text(server, "warm up: what is this about?")
                rows = []
                for r in range(args.rounds):
                    for i, q in enumerate(questions()):
                        ui_first = (r + i) % 2 == 0
                        a = b = 0.0
                        for way in (("ui", "api") if ui_first else ("api", "ui")):
                            if way == "ui":
                                b = ui_first_text(page, q)
                            else:
                                a = api_first_text(server, q)
                        rows.append({"round": r, "question": q, "api_s": round(a, 4), "ui_s": round(b, 4),
                                     "diff_ms": round((b - a) * 1000, 1)})
                        print(f"round {r} api {a * 1000:7.0f} ms  ui {b * 1000:7.0f} ms  diff {(b - a) * 1000:+6.0f} ms  {q}")
                browser.close()
        finally:
            server.stop()
    diffs = [r["diff_ms"] for r in rows]
    out = {"pairs": len(rows), "api_first_text_p50_s": round(statistics.median(r["api_s"] for r in rows), 3),
           "ui_first_text_p50_s": round(statistics.median(r["ui_s"] for r in rows), 3),
           "ui_overhead_median_ms": round(statistics.median(diffs), 1),
           "ui_overhead_p90_ms": round(sorted(diffs)[int(0.9 * (len(diffs) - 1))], 1), "rows": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=2))
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
