"""Upload checks, before anything is stored or queued: size and count limits, the type
sniffed from the bytes (never the header or the name), page limits, zip bombs, and safe
file names. A refusal names the file and the limit."""
from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from api.errors import ApiProblem
from core.errors import LoaderError
from core.settings import Settings
from ingestion.loaders import LOADERS, SUPPORTED, check_zip, sniff

TEXT_TYPES = {".md", ".markdown", ".txt", ".text", ".html", ".htm"}
# The suffix a sniffed type is stored under when the given name says otherwise.
_CANONICAL = {".htm": ".html", ".markdown": ".md", ".text": ".txt"}


@dataclass
class Upload:
    name: str  # sanitised, with the suffix of its real type
    data: bytes
    kind: str  # loader key: .pdf, .docx, .md, ...
    pages: int | None = None


def safe_name(raw: str | None) -> str:
    """A file name that is only a name: no folders, no control characters, no leading dots."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]  # C:\\x\\a.pdf and ../../a.pdf are both a.pdf
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > 200:
        stem, suffix = PurePath(name).stem, PurePath(name).suffix[:16]
        name = stem[: 200 - len(suffix)] + suffix
    return name or "upload"


def _looks_like_text(data: bytes) -> bool:
    head = data[:65536]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte character cut by the 64 KB window is fine
            return False
    return True


def sniff_upload(data: bytes, name: str) -> str:
    """The loader key from the bytes alone; the name only tells text formats apart
    (Markdown from plain text). A file named .pdf that is not a PDF is not taken as one."""
    kind = sniff(data, name)  # %PDF and DOCX are recognised by content
    if kind in (".pdf", ".docx") and kind != sniff(data, ""):
        kind = ""  # the name says PDF/DOCX, the bytes do not
    if kind in (".pdf", ".docx"):
        return kind
    if not _looks_like_text(data):
        return "binary"
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return ".html"
    return kind if kind in TEXT_TYPES else ".txt"


async def read_upload(file: UploadFile, settings: Settings) -> Upload:
    name = safe_name(file.filename)
    limit = settings.max_upload_bytes
    chunks, size = [], 0
    while block := await file.read(1 << 20):
        size += len(block)
        if size > limit:
            raise ApiProblem(413, "file-too-large", f"{name}: larger than the {limit / 1e6:.0f} MB limit per file")
        chunks.append(block)
    data = b"".join(chunks)
    if not data:
        raise ApiProblem(422, "empty-file", f"{name}: the file is empty (0 bytes)")
    try:
        kind, pages = await run_in_threadpool(_inspect, data, name, settings)  # zip and PDF parsing: CPU work
    except LoaderError as exc:
        raise ApiProblem(422, "refused-file", f"{name}: {exc}") from exc
    if kind not in LOADERS:
        what = "unrecognised binary content" if kind == "binary" else f"'{kind}'" if kind else "no known type"
        raise ApiProblem(415, "unsupported-type", f"{name}: {what} is not a supported type (supported: {SUPPORTED}); "
                         "the type is read from the file's bytes, not its name")
    if pages is not None and pages > settings.max_document_pages:
        raise ApiProblem(422, "too-many-pages", f"{name}: {pages} pages, more than the limit of {settings.max_document_pages}")
    suffix = PurePath(name).suffix.lower()
    if _CANONICAL.get(suffix, suffix) != _CANONICAL.get(kind, kind):
        name = f"{name}{_CANONICAL.get(kind, kind)}"  # stored under its real type
    return Upload(name, data, kind, pages)


def _inspect(data: bytes, name: str, settings: Settings) -> tuple[str, int | None]:
    """(loader key, PDF page count or None); raises LoaderError for a zip bomb."""
    kind = sniff_upload(data, name)
    if kind == ".docx":
        check_zip(data, settings.max_unzipped_bytes, settings.max_zip_ratio)
    return kind, _pdf_pages(data) if kind == ".pdf" else None


def _pdf_pages(data: bytes) -> int | None:
    """The page count, or None when pypdf cannot tell (the ingest job then reports why)."""
    from pypdf import PdfReader

    try:
        return len(PdfReader(io.BytesIO(data)).pages)
    except Exception:
        return None


async def read_uploads(files: list[UploadFile], settings: Settings) -> list[Upload]:
    if not files:
        raise ApiProblem(422, "validation", "no files: send one or more as multipart field 'files'", field="files")
    if len(files) > settings.max_upload_files:
        raise ApiProblem(413, "too-many-files", f"{len(files)} files in one request; the limit is {settings.max_upload_files}")
    uploads = [await read_upload(f, settings) for f in files]
    seen: dict[str, int] = {}
    for u in uploads:
        seen[u.name] = seen.get(u.name, 0) + 1
    dupes = [n for n, c in seen.items() if c > 1]
    if dupes:
        raise ApiProblem(422, "duplicate-name", f"several files are named {', '.join(dupes)}; names are unique in a collection")
    return uploads
