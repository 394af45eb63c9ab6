"""Page images and highlights for citations: how long a CUAD page takes to draw, cold and
cached, and a passage's boxes, through the HTTP routes the web UI calls.

    python -m bench.page_images [--cuad ../shared/data/cuad-dev] [--docs 5] [--runs 7]
                                [--widths 1000,2000] [--json OUT]

Takes the first --docs CUAD dev contracts (sorted by name) with at least two pages, stores
each as a document row of its own temporary database (text and page map from the real PDF
loader; the original is read where it lies, nothing is copied; no embedding: these routes
do not use chunks), and asks an in-process app (auth off) for page 2 of each:

- cold: the page cache emptied first: the document row, PDFium opening the file, drawing
  the page, PNG encoding;
- cached: the same request again (the in-process LRU; the document row is still read);
- 304: the same request with the ETag in If-None-Match (no image sent);
- highlight: `GET /highlight` for a 200-character span from the middle of page 2 (the
  page's text from PDFium, the quote found, its boxes).

Each figure is the median over --runs runs of every document; the first request of the
process is warm-up and not counted.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from core.fileio import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except Exception:
        return platform.processor() or "unknown"


def store_documents(rt, pdfs: list[Path]) -> list[tuple[int, str, list]]:
    """Document rows for the PDFs (no chunks): (id, name, page_spans)."""
    from core.models import Document
    from ingestion.loaders import load_bytes

    coll = rt.store.collection(rt.settings.default_tenant, "bench", create=True)
    out = []
    with rt.store.session() as s:
        for path in pdfs:
            data = path.read_bytes()
            doc = load_bytes(data, path.name)
            row = Document(collection_id=coll.id, name=path.name, sha256=hashlib.sha256(data).hexdigest(),
                           mime=doc.mime, pages=len(doc.pages), status="indexed", version=1,
                           metadata_={"source_path": str(path)}, text=doc.text,
                           page_spans=[[p.number, p.char_start, p.char_end] for p in doc.pages])
            s.add(row)
            s.flush()
            out.append((row.id, path.name, row.page_spans))
        s.commit()
    return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=Path, default=ROOT.parent / "shared" / "data" / "cuad-dev")
    ap.add_argument("--docs", type=int, default=5)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--widths", default="1000,2000")
    ap.add_argument("--page", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.settings import Settings
    from workers.runtime import Runtime

    rt = Runtime(Settings(data_dir=Path(tempfile.mkdtemp(prefix="docintel-pages-")), api_auth=False,
                          rate_limit="1000000/minute", _env_file=None))
    pdfs = []
    for path in sorted((args.cuad / "pdf").iterdir()):
        if len(pdfs) == args.docs:
            break
        import pypdf

        try:
            if len(pypdf.PdfReader(path).pages) >= args.page:
                pdfs.append(path)
        except Exception:
            continue
    docs = store_documents(rt, pdfs)
    widths = [int(w) for w in args.widths.split(",")]
    rows: dict[str, list[float]] = {}
    sizes: dict[int, list[int]] = {w: [] for w in widths}
    with TestClient(create_app(rt)) as client:
        client.get(f"/v1/documents/{docs[0][0]}/pages/1/image")  # warm-up: imports, PDFium's start
        for _ in range(args.runs):
            for doc_id, _name, spans in docs:
                url = f"/v1/documents/{doc_id}/pages/{args.page}/image"
                for width in widths:
                    rt.page_images.clear()
                    ms, cold = timed(lambda: client.get(url, params={"width": width}))
                    cold.raise_for_status()
                    rows.setdefault(f"cold w={width}", []).append(ms)
                    sizes[width].append(len(cold.content))
                    ms, hot = timed(lambda: client.get(url, params={"width": width}))
                    assert hot.content == cold.content
                    rows.setdefault(f"cached w={width}", []).append(ms)
                    ms, nm = timed(lambda: client.get(url, params={"width": width},
                                                      headers={"If-None-Match": cold.headers["etag"]}))
                    assert nm.status_code == 304
                    rows.setdefault(f"304 w={width}", []).append(ms)
                _, a, b = next(s for s in spans if s[0] == args.page)
                mid = (a + b) // 2
                ms, hl = timed(lambda: client.get(f"/v1/documents/{doc_id}/highlight",
                                                  params={"char_start": mid, "char_end": min(b, mid + 200)}))
                hl.raise_for_status()
                rows.setdefault("highlight 200 chars", []).append(ms)
                rows.setdefault("highlight boxes found", []).append(float(bool(hl.json()["pages"][0]["boxes"])))
    result = {
        "machine": f"{cpu_model()}, {__import__('os').cpu_count()} cores",
        "documents": [name for _, name, _ in docs], "page": args.page, "runs": args.runs,
        "median_ms": {k: round(statistics.median(v), 1) for k, v in rows.items() if "found" not in k},
        "p95_ms": {k: round(sorted(v)[int(0.95 * (len(v) - 1))], 1) for k, v in rows.items() if "found" not in k},
        "highlights_with_boxes": f"{int(sum(rows['highlight boxes found']))}/{len(rows['highlight boxes found'])}",
        "png_kb_median": {w: round(statistics.median(v) / 1024, 1) for w, v in sizes.items()},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        atomic_write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
