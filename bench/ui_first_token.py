"""What the web UI adds to an answer's time to first text, against the API's own figure.

    python -m bench.ui_first_token [--rounds 3] [--json OUT]

Starts `docintel serve` (the default model, embedded jobs) with its own data directory,
uploads the documents in samples/, then asks each question of samples/questions.jsonl
twice per round, once each way, alternating which goes first so drift cancels, after one
untimed ask of the same question (the model's prompt cache then serves both ways alike):

- API: `POST /v1/answer` with `"stream": true` from httpx; time from sending the request to
  the first `delta` event.
- UI: headless Chromium (Debian's, driven by Playwright) on the Ask page, signed in; time from
  the click on "Ask" to the first text in the answer element (a MutationObserver in the page,
  on the page's own clock).

The UI's overhead is the median of the paired differences (UI - API) for the same question;
on a busy machine generation time varies by seconds between two asks, so the page's own share
is also timed inside the page (click to request, first `delta` bytes to text on screen).
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


# The page's own work, timed inside it: from the click to the request leaving (fetch called),
# and from the bytes of the first `delta` event arriving (a read of the response body
# resolving) to its text being in the document. The server's part is not in these.
PROBE = """() => {
    const origFetch = window.fetch;
    window.fetch = (...args) => { if (String(args[0]).includes('/v1/answer')) window.__fetched = performance.now(); return origFetch(...args); };
    const origRead = ReadableStreamDefaultReader.prototype.read;
    ReadableStreamDefaultReader.prototype.read = function () {
        return origRead.call(this).then((r) => {
            if (!r.done && window.__chunk === null && new TextDecoder().decode(r.value).includes('event: delta')) window.__chunk = performance.now();
            return r;
        });
    };
}"""


def ui_first_text(page, question: str) -> tuple[float, float]:
    """(seconds from the click to the first answer text on the page, seconds of it spent in
    the page itself)."""
    page.goto("/#/ask")
    page.reload()  # a new conversation: a follow-up would first be rewritten by the model from its history
    page.wait_for_selector("#question")
    page.get_by_label("Your question").fill(question)
    page.evaluate(PROBE)
    page.evaluate("""() => {
        window.__firstText = null; window.__chunk = null; window.__fetched = null;
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
    ms, own = page.evaluate("""[window.__firstText - window.__clicked,
        (window.__fetched - window.__clicked) + (window.__firstText - window.__chunk)]""")
    page.wait_for_selector("#chat-log .msg.bot:not([aria-busy])", timeout=600_000)  # let the answer finish
    return ms / 1000, own / 1000


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
                        a = b = own = 0.0
                        # The model reuses the evaluated prompt of the call before (llama.cpp's
                        # prefix cache), so whichever way asked first would pay for the prompt:
                        # one untimed ask first, so both timed ways find it evaluated.
                        api_first_text(server, q)
                        for way in (("ui", "api") if ui_first else ("api", "ui")):
                            if way == "ui":
                                b, own = ui_first_text(page, q)
                            else:
                                a = api_first_text(server, q)
                        rows.append({"round": r, "question": q, "api_s": round(a, 4), "ui_s": round(b, 4),
                                     "diff_ms": round((b - a) * 1000, 1), "page_ms": round(own * 1000, 2)})
                        print(f"round {r} api {a * 1000:7.0f} ms  ui {b * 1000:7.0f} ms  diff {(b - a) * 1000:+6.0f} ms"
                              f"  in the page {own * 1000:5.1f} ms  {q}")
                browser.close()
        finally:
            server.stop()
    diffs = [r["diff_ms"] for r in rows]
    out = {"pairs": len(rows), "api_first_text_p50_s": round(statistics.median(r["api_s"] for r in rows), 3),
           "ui_first_text_p50_s": round(statistics.median(r["ui_s"] for r in rows), 3),
           "ui_overhead_median_ms": round(statistics.median(diffs), 1),
           "ui_overhead_p90_ms": round(sorted(diffs)[int(0.9 * (len(diffs) - 1))], 1),
           "in_page_median_ms": round(statistics.median(r["page_ms"] for r in rows), 2),
           "in_page_max_ms": round(max(r["page_ms"] for r in rows), 2), "rows": rows}
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=2))
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
