"""Test documents generated on the fly: real PDFs (reportlab), DOCX, HTML, Markdown."""
from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter


def make_pdf(pages: list[str]) -> bytes:
    """A real text PDF, one string per page (newlines become lines)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    for text in pages:
        y = 740
        for line in text.split("\n"):
            c.drawString(72, y, line)
            y -= 14
        c.showPage()
    c.save()
    return buf.getvalue()


def make_image_only_pdf(n_pages: int = 2) -> bytes:
    """Pages with drawings and an embedded raster image but no text layer (like a scan)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    # a tiny grey PPM image, no PIL needed by the test
    ppm = b"P6 8 8 255\n" + bytes([128, 128, 128] * 64)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    for _ in range(n_pages):
        c.rect(72, 500, 300, 200, fill=1)
        try:
            c.drawImage(ImageReader(io.BytesIO(ppm)), 100, 100, 64, 64)
        except Exception:
            pass
        c.showPage()
    c.save()
    return buf.getvalue()


def encrypt_pdf(data: bytes, user_password: str, owner_password: str = "owner-secret") -> bytes:
    reader = PdfReader(io.BytesIO(data))
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for col, value in enumerate(row):
                t.cell(r, col).text = value
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


FILLER = (
    "This section describes general operating procedures for the equipment and the "
    "responsibilities of each party under this agreement in ordinary circumstances."
)


def multipage_pdf_with_unique_sentence(unique: str, unique_page: int = 3, n_pages: int = 5) -> bytes:
    pages = []
    for n in range(1, n_pages + 1):
        lines = [f"Page {n} heading: chapter {n} overview"] + [FILLER[:90], FILLER[90:]] * 6
        if n == unique_page:
            lines.insert(5, unique)
        pages.append("\n".join(lines))
    return make_pdf(pages)
