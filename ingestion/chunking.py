"""Chunking with langchain-text-splitters, measured in embedding-model tokens.

Chunks are exact substrings of the document text, so every chunk carries a character
span and a page range that a citation can point at.
"""
from __future__ import annotations

import bisect
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.settings import Settings
from core.types import ChunkDraft, LoadedDocument
from ingestion.embedding import resolve_model_dir

# MiniLM's window is 256 tokens including [CLS] and [SEP]; a chunk must never exceed it.
MODEL_WINDOW = 256
SPECIAL_TOKENS = 2


TITLE_MAX_CHARS = 160  # a title longer than this is cut: it must not crowd out the chunk's own words


def index_text(text: str, title: str | None) -> str:
    """What the retrievers index for a chunk: its text, headed by the document's title (a
    manual's section path, a page title) unless the chunk already starts with it. A
    section's later chunks then still match a question that names the section; the chunk
    itself, and so every citation, stays an exact span of the document."""
    title = " ".join((title or "").split())[:TITLE_MAX_CHARS]
    if not title or text.lstrip().startswith(title):
        return text
    return f"{title}\n{text}"


@runtime_checkable
class Chunker(Protocol):
    def chunk(self, doc: LoadedDocument) -> list[ChunkDraft]: ...


@lru_cache(maxsize=4)
def load_tokenizer(model_dir: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


class TokenChunker:
    """Recursive split on paragraphs, lines, sentences, words; sizes counted in tokens."""

    def __init__(self, model_dir: str, chunk_tokens: int = 220, overlap_tokens: int = 32):
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        if chunk_tokens + SPECIAL_TOKENS > MODEL_WINDOW:
            raise ValueError(f"chunk_tokens must be <= {MODEL_WINDOW - SPECIAL_TOKENS}")
        self.tokenizer = load_tokenizer(model_dir)
        self.max_tokens = MODEL_WINDOW - SPECIAL_TOKENS
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        self._splitter = self._make_splitter(RecursiveCharacterTextSplitter, chunk_tokens, overlap_tokens)

    def _make_splitter(self, cls, size: int, overlap: int):
        return cls(
            chunk_size=size,
            chunk_overlap=overlap,
            length_function=self.count_tokens,
            separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
            keep_separator="end",  # chunks stay verbatim substrings of the text
            strip_whitespace=True,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def _split(self, text: str) -> list[str]:
        pieces = self._splitter.split_text(text)
        out: list[str] = []
        for piece in pieces:
            # Token counts of merged pieces are sums of parts; re-check the joined text.
            if self.count_tokens(piece) <= self.max_tokens:
                out.append(piece)
            else:
                from langchain_text_splitters import RecursiveCharacterTextSplitter

                smaller = self._make_splitter(RecursiveCharacterTextSplitter, self.chunk_tokens // 2, 0)
                out.extend(smaller.split_text(piece))
        return out

    def chunk(self, doc: LoadedDocument) -> list[ChunkDraft]:
        text = doc.text
        page_ends = [p.char_end for p in doc.pages]
        page_numbers = [p.number for p in doc.pages]

        def page_at(offset: int) -> int:
            i = bisect.bisect_right(page_ends, offset)
            return page_numbers[min(i, len(page_numbers) - 1)]

        chunks: list[ChunkDraft] = []
        cursor = 0
        for piece in self._split(text):
            start = text.find(piece, cursor)
            if start < 0:  # should not happen: pieces are substrings; fall back to a full search
                start = text.find(piece)
                if start < 0:
                    continue
            end = start + len(piece)
            chunks.append(
                ChunkDraft(
                    ordinal=len(chunks),
                    text=piece,
                    char_start=start,
                    char_end=end,
                    page_start=page_at(start),
                    page_end=page_at(end - 1),
                    token_count=self.count_tokens(piece),
                )
            )
            cursor = start + 1
        return chunks


def get_chunker(settings: Settings) -> Chunker:
    """The Chunker factory: chunks sized in the embedding model's tokens, as settings say."""
    return TokenChunker(resolve_model_dir(settings), settings.chunk_tokens, settings.chunk_overlap_tokens)
