"""A two-page PDF whose sentences sit at known places, and where the PDF itself says its
text is (pypdf), for the tests of page images and passage boxes."""
from __future__ import annotations

import io

FONT, SIZE = "Helvetica", 12
PAGE_W, PAGE_H = 612.0, 792.0  # US letter, points

WARRANTY = "The warranty period is twenty-four months from the date of delivery."
NOTICE = "Notices must be sent in writing."
LAST_OF_PAGE_1 = "Page one closes with this sentence about the parties."
FIRST_OF_PAGE_2 = "Section 7. Warranty and indemnities."
HYPHEN_1 = "The supplier shall indemnify the customer against all claims, dam-"
HYPHEN_2 = "ages and expenses arising from defective products."
# (page, x, baseline y, text): drawn in this order
LINES = [
    (1, 72, 720, "MASTER SUPPLY AGREEMENT between Acme Corp. and Globex LLC."),
    (1, 72, 700, "The parties agree to the supply of widgets on the terms below."),
    (1, 72, 680, LAST_OF_PAGE_1),
    (2, 72, 720, FIRST_OF_PAGE_2),
    (2, 72, 660, NOTICE),
    (2, 150, 600, WARRANTY),
    (2, 72, 500, HYPHEN_1),
    (2, 72, 486, HYPHEN_2),
    (2, 72, 150, NOTICE),
]


def two_page_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(PAGE_W, PAGE_H))
    for page in (1, 2):
        c.setFont(FONT, SIZE)
        for p, x, y, text in LINES:
            if p == page:
                c.drawString(x, y, text)
        c.showPage()
    c.save()
    return buf.getvalue()


def pdf_text_positions(data: bytes, page_index: int) -> list[tuple[str, float, float, float]]:
    """(text, x, baseline y, font size) of each text run on a page, as pypdf reads them from
    the PDF's content stream (its text and transformation matrices): the PDF's own positions."""
    from pypdf import PdfReader

    runs: list[tuple[str, float, float, float]] = []

    def visit(text, cm, tm, font_dict, font_size):
        if text.strip():
            # the text matrix's origin through the current transformation matrix
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            runs.append((text.strip(), x, y, font_size * tm[3] * cm[3]))

    PdfReader(io.BytesIO(data)).pages[page_index].extract_text(visitor_text=visit)
    return runs


def expected_box(text: str, x: float, y: float, size: float = SIZE, width: float = PAGE_W,
                 height: float = PAGE_H) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a run of Helvetica text as fractions of the page, origin top-left:
    from the font's advance widths, ascent and descent (reportlab's metrics)."""
    from reportlab.pdfbase.pdfmetrics import getAscentDescent, stringWidth

    ascent, descent = getAscentDescent(FONT, size)
    x1 = x + stringWidth(text, FONT, size)
    return x / width, (height - (y + ascent)) / height, x1 / width, (height - (y + descent)) / height


def box_tuple(box: dict) -> tuple[float, float, float, float]:
    return box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
