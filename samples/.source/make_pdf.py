"""Render master-services-agreement.txt as a multi-page PDF (needs reportlab: pip install reportlab)."""
from pathlib import Path
from textwrap import wrap

from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

here = Path(__file__).parent  # samples/.source
out = here.parent / "master-services-agreement.pdf"
src = (here / "master-services-agreement.txt").read_text()
c = canvas.Canvas(str(out), pagesize=letter)
c.setFont("Helvetica", 10)
y = 740
for para in src.split("\n"):
    for line in wrap(para, 95) or [""]:
        if y < 72:  # new page, with a page number footer on the old one
            c.showPage()
            c.setFont("Helvetica", 10)
            y = 740
        c.drawString(72, y, line)
        y -= 22  # generous leading so the agreement spans several pages
c.showPage()
c.save()
