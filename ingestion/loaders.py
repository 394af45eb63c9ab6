"""Loaders: file bytes -> LoadedDocument (text + page map). One per format, one factory.

Every expected failure raises LoaderError with a message a person can act on; the
pipeline records it on the document row and carries on with the next file.
"""
from __future__ import annotations

import io
import logging
import zipfile
from pathlib import PurePath
from typing import Protocol

from core.errors import LoaderError
from core.types import LoadedDocument
from ingestion.normalize import join_pages, normalize_text

log = logging.getLogger(__name__)

NO_TEXT = "no extractable text (scanned PDF? OCR is not enabled)"


class Loader(Protocol):
    mime: str

    def load(self, data: bytes, name: str) -> LoadedDocument: ...


class PdfLoader:
    mime = "application/pdf"
    # pypdf >= 7 caps arrays at 100k elements as a safety limit; the structure trees of
    # ordinary tagged filings (e.g. SEC 10-Qs) exceed it. Raised, not removed.
    ARRAY_LIMIT = 2_000_000

    def load(self, data: bytes, name: str) -> LoadedDocument:
        import pypdf

        if not hasattr(pypdf, "apply_configuration"):
            return self._load(data, name)
        # the configuration must cover extract_text too: pages are parsed lazily
        with pypdf.apply_configuration(array_maximum_element_count=self.ARRAY_LIMIT):
            return self._load(data, name)

    def _load(self, data: bytes, name: str) -> LoadedDocument:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                # Many PDFs are "encrypted" with an empty user password: open them.
                try:
                    ok = reader.decrypt("")
                except Exception as exc:  # unsupported algorithm, missing crypto backend
                    raise LoaderError(f"encrypted PDF: cannot decrypt ({exc})") from exc
                if not ok:
                    raise LoaderError("encrypted PDF: password required")
            pages = list(reader.pages)
        except LoaderError:
            raise
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
            raise LoaderError(f"corrupt or unreadable PDF: {exc}") from exc
        if not pages:
            raise LoaderError("PDF has no pages")
        texts: list[str] = []
        failed = 0
        for i, page in enumerate(pages, start=1):
            try:
                texts.append(page.extract_text() or "")
            except Exception as exc:  # one bad page must not lose the document
                failed += 1
                log.warning("pdf page unreadable", extra={"document": name, "page": i, "error": str(exc)})
                texts.append("")
        if failed == len(pages):
            raise LoaderError("corrupt or unreadable PDF: no page could be read")
        text, spans = join_pages(texts)
        if not text.strip():
            raise LoaderError(NO_TEXT)
        meta: dict = {"unreadable_pages": failed} if failed else {}
        try:
            info = reader.metadata
            if info and info.title:
                meta["file_title"] = str(info.title)  # not "title": that one is the caller's (pipeline)
        except Exception:  # broken metadata is common and never fatal
            pass
        return LoadedDocument(text=text, pages=spans, mime=self.mime, metadata=meta)


# A DOCX is a zip; a few KB can unpack to gigabytes (a zip bomb). python-docx would
# inflate it all, so its declared sizes are checked first.
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
MAX_ZIP_ENTRIES = 10_000


def check_zip(data: bytes, max_unzipped: int = MAX_UNZIPPED_BYTES, max_ratio: int = MAX_ZIP_RATIO) -> None:
    """Refuse a zip that would unpack past `max_unzipped` bytes or `max_ratio` times its size."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise LoaderError(f"corrupt or unreadable DOCX: {exc}") from exc
    total = sum(i.file_size for i in infos)
    if len(infos) > MAX_ZIP_ENTRIES or total > max_unzipped or total > max_ratio * max(len(data), 1):
        raise LoaderError(f"refused: the DOCX would unpack to {total / 1e6:.0f} MB in {len(infos)} parts "
                          f"({total / max(len(data), 1):.0f}x its size; limits {max_unzipped / 1e6:.0f} MB, {max_ratio}x)")


class DocxLoader:
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

    def load(self, data: bytes, name: str) -> LoadedDocument:
        import docx

        check_zip(data)
        try:
            document = docx.Document(io.BytesIO(data))
        except Exception as exc:
            raise LoaderError(f"corrupt or unreadable DOCX: {exc}") from exc
        lines: list[str] = []
        # Body paragraphs and tables in document order.
        for block in document.element.body.iterchildren():
            tag = block.tag.rsplit("}", 1)[-1]
            if tag == "p":
                lines.append("".join(t.text or "" for t in block.iter() if t.tag.endswith("}t")))
            elif tag == "tbl":
                for row in block.iter():
                    if row.tag.endswith("}tr"):
                        cells = []
                        for cell in row.iterchildren():
                            if cell.tag.endswith("}tc"):
                                cells.append(" ".join(t.text or "" for t in cell.iter() if t.tag.endswith("}t")))
                        lines.append(" | ".join(cells))
        return _single_page("\n".join(lines), self.mime)


class HtmlLoader:
    mime = "text/html"

    def load(self, data: bytes, name: str) -> LoadedDocument:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(_decode(data), "html.parser")
        for tag in soup(["script", "style", "noscript", "template"]):
            tag.decompose()
        meta = {"file_title": soup.title.get_text(strip=True)} if soup.title else {}
        doc = _single_page(soup.get_text("\n"), self.mime)
        doc.metadata.update(meta)
        return doc


class MarkdownLoader:
    """Markdown is kept as written: headings and lists read well and cite exactly."""

    mime = "text/markdown"

    def load(self, data: bytes, name: str) -> LoadedDocument:
        return _single_page(_decode(data), self.mime)


class TextLoader:
    mime = "text/plain"

    def load(self, data: bytes, name: str) -> LoadedDocument:
        if b"\x00" in data[:4096]:
            raise LoaderError("binary file: not a text document")
        return _single_page(_decode(data), self.mime)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def _single_page(raw: str, mime: str) -> LoadedDocument:
    text = normalize_text(raw)
    if not text:
        raise LoaderError("no text content (the document is empty)")
    text, spans = join_pages([text])
    return LoadedDocument(text=text, pages=spans, mime=mime)


LOADERS: dict[str, type] = {
    ".pdf": PdfLoader,
    ".docx": DocxLoader,
    ".html": HtmlLoader,
    ".htm": HtmlLoader,
    ".md": MarkdownLoader,
    ".markdown": MarkdownLoader,
    ".txt": TextLoader,
    ".text": TextLoader,
}
SUPPORTED = ", ".join(sorted(LOADERS))


def sniff(data: bytes, name: str) -> str:
    """The format key for these bytes: content wins over a misleading extension."""
    if data[:1024].lstrip().startswith(b"%PDF"):
        return ".pdf"
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if "word/document.xml" in zf.namelist():
                    return ".docx"
        except zipfile.BadZipFile:
            pass
    return PurePath(name).suffix.lower()


def get_loader(data: bytes, name: str) -> Loader:
    """The loader factory: picks a Loader by content and extension."""
    if not data:
        raise LoaderError("empty file (0 bytes)")
    key = sniff(data, name)
    cls = LOADERS.get(key)
    if cls is None:
        raise LoaderError(f"unsupported file type '{key or 'no extension'}' (supported: {SUPPORTED})")
    return cls()


def load_bytes(data: bytes, name: str) -> LoadedDocument:
    loader = get_loader(data, name)
    try:
        return loader.load(data, name)
    except LoaderError:
        raise
    except Exception as exc:  # a library bug on a strange file is still a per-file error
        raise LoaderError(f"could not read {PurePath(name).suffix or 'file'}: {type(exc).__name__}: {exc}") from exc
