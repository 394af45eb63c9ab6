"""The LangChain baseline of bench/ingest_vs_langchain.py: the pipeline a user would write.

Runs in the bench's own virtualenv (langchain-community, langchain-huggingface,
sentence-transformers, faiss-cpu, pypdf), never in the project's, and imports nothing of
ours. Standard library and LangChain only.

    python bench/langchain_baseline.py ingest --model DIR --out STORE PDF...   # -> {"pages", "chunks", "stages_s"}
    python bench/langchain_baseline.py qa --model DIR --input IN.json --output OUT.json
    python bench/langchain_baseline.py versions

`ingest`: PyPDFLoader -> RecursiveCharacterTextSplitter(1000, 200) -> HuggingFaceEmbeddings
-> FAISS.from_documents -> save_local. `qa`: the same splitter and store over
{"policies": [{"name", "text"}], "questions": [{"question", "policy"}]}, writing the top 5
passages per question searched within its own policy ({"top5": [[text, ...], ...]}).
"""
from __future__ import annotations

import json
import sys
import time

T_START = time.perf_counter()

from langchain_community.document_loaders import PyPDFLoader  # noqa: E402
from langchain_community.vectorstores import FAISS  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

T_IMPORTED = time.perf_counter()
SPLITTER = dict(chunk_size=1000, chunk_overlap=200)
PACKAGES = ("langchain-core", "langchain-community", "langchain-huggingface", "langchain-text-splitters",
            "sentence-transformers", "transformers", "torch", "faiss-cpu", "pypdf")


def _arg(argv: list[str], name: str) -> str:
    i = argv.index(name)
    value = argv[i + 1]
    del argv[i:i + 2]
    return value


def ingest(argv: list[str]) -> dict:
    model, out = _arg(argv, "--model"), _arg(argv, "--out")
    stages = {"imports": T_IMPORTED - T_START}
    t = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(model_name=model)
    stages["load model"], t = time.perf_counter() - t, time.perf_counter()
    pages = [page for path in argv for page in PyPDFLoader(path).load()]
    stages["load PDFs (pypdf)"], t = time.perf_counter() - t, time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(**SPLITTER).split_documents(pages)
    stages["split"], t = time.perf_counter() - t, time.perf_counter()
    store = FAISS.from_documents(chunks, embeddings)
    stages["embed + FAISS index"], t = time.perf_counter() - t, time.perf_counter()
    store.save_local(out)
    stages["save_local"] = time.perf_counter() - t
    return {"pages": len(pages), "chunks": len(chunks), "stages_s": {k: round(v, 2) for k, v in stages.items()}}


def qa(argv: list[str]) -> dict:
    model, inp, outp = _arg(argv, "--model"), _arg(argv, "--input"), _arg(argv, "--output")
    data = json.load(open(inp, encoding="utf-8"))
    docs = [Document(page_content=p["text"], metadata={"source": p["name"]}) for p in data["policies"]]
    chunks = RecursiveCharacterTextSplitter(**SPLITTER).split_documents(docs)
    store = FAISS.from_documents(chunks, HuggingFaceEmbeddings(model_name=model))
    n = store.index.ntotal  # the filter applies after fetch_k candidates: fetch them all
    top5 = [[d.page_content for d in store.similarity_search(q["question"], k=5, filter={"source": q["policy"]}, fetch_k=n)]
            for q in data["questions"]]
    with open(outp, "w", encoding="utf-8") as fh:
        json.dump({"top5": top5}, fh)
    return {"chunks": len(chunks), "questions": len(top5)}


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in PACKAGES}


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    result = ingest(rest) if cmd == "ingest" else qa(rest) if cmd == "qa" else versions()
    print(json.dumps(result))
