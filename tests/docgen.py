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


# -- contracts in CUAD's layout (master_clauses.csv + txt/) --------------------------------------
STATES = ["New York", "Delaware", "California", "Texas", "Illinois", "Ohio", "Florida", "Nevada", "Oregon", "Georgia"]
_CLAUSES = [
    "Payment. The Customer shall pay each invoice within {n} days of receipt.",
    "Confidentiality. Each party shall keep the other party's confidential information secret.",
    "Notices. All notices shall be in writing and sent to the addresses set out above.",
    "Assignment. Neither party may assign this Agreement without the prior written consent of the other party.",
    "Warranties. The Supplier warrants that the services will be performed with reasonable care and skill.",
    "Force Majeure. Neither party is liable for delays caused by events beyond its reasonable control.",
    "Audit. The Customer may inspect the Supplier's records once in each calendar year.",
    "Entire Agreement. This Agreement is the entire agreement between the parties on its subject.",
    "Severability. If any provision is held invalid, the remaining provisions stay in effect.",
    "Insurance. The Supplier shall maintain public liability insurance of at least {n} million dollars.",
]
GOVERNING_LAW = [
    "This Agreement shall be governed by the laws of the State of {state}.",
    "This Agreement is governed by and construed in accordance with the laws of the State of {state}.",
    "The laws of the State of {state} govern this Agreement and any dispute arising from it.",
]


def make_contract_text(seed: int, governing_law: bool = True) -> tuple[str, str | None]:
    """A short services agreement whose numbered clauses come in a seeded order, one of them
    the planted governing-law clause (unless `governing_law` is false). Returns (text, the
    governing-law sentence or None)."""
    import random

    rng = random.Random(seed)
    law = rng.choice(GOVERNING_LAW).format(state=rng.choice(STATES)) if governing_law else None
    clauses = [c.format(n=rng.randint(2, 90)) for c in rng.sample(_CLAUSES, 7)] + ([f"Governing Law. {law}"] if law else [])
    rng.shuffle(clauses)
    body = "\n\n".join(f"{i}. {c}" for i, c in enumerate(clauses, 1))
    head = (f"SERVICES AGREEMENT\n\nThis Services Agreement is made between Supplier {seed} Ltd and "
            f"Customer {seed} Inc.\n\n")
    return head + body + "\n", law


def write_cuad_contracts(root, n: int, seed: int = 0):
    """`n` generated contracts as a CUAD folder (txt/ and master_clauses.csv) whose one
    labelled category is Governing Law. Returns the folder."""
    import csv
    from pathlib import Path

    root = Path(root)
    (root / "txt").mkdir(parents=True, exist_ok=True)
    with open(root / "master_clauses.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["Filename", "Governing Law", "Governing Law-Answer"])
        w.writeheader()
        for i in range(n):
            text, law = make_contract_text(seed + i)
            (root / "txt" / f"contract_{i:03d}.txt").write_text(text, encoding="utf-8")
            w.writerow({"Filename": f"contract_{i:03d}.pdf", "Governing Law": repr([law]), "Governing Law-Answer": ""})
    return root
