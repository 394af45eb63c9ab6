"""Ingestion: loaders, normalisation, chunking, embedding and the ingest pipeline."""
from ingestion.chunking import Chunker, TokenChunker, get_chunker
from ingestion.embedding import Embedder, get_embedder, resolve_model_dir
from ingestion.loaders import Loader, get_loader, load_bytes
from ingestion.pipeline import IndexSink, Ingestor, iter_files

__all__ = [
    "Chunker", "Embedder", "IndexSink", "Ingestor", "Loader", "TokenChunker",
    "get_chunker", "get_embedder", "get_loader", "iter_files", "load_bytes", "resolve_model_dir",
]
