"""Page images and passage boxes (ingestion/page_images.py) on PDFs drawn by the tests: the
boxes are checked against where the PDF itself puts its text (pypdf's reading of the
content stream, and reportlab's font metrics), and against the dark pixels of the image."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from pagedocs import (HYPHEN_1, HYPHEN_2, LAST_OF_PAGE_1, FIRST_OF_PAGE_2, NOTICE, PAGE_H, PAGE_W, WARRANTY, box_tuple,
                      expected_box, iou, pdf_text_positions, two_page_pdf)

from core.errors import NotFoundError
from ingestion.loaders import load_bytes
from ingestion.page_images import (InvalidSpanError, NoPageImagesError, PageImage, PageImageCache, image_size, locate,
                                   passage_boxes, render_page_png, skeleton)


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> tuple[Path, bytes]:
    data = two_page_pdf()
    path = tmp_path_factory.mktemp("pages") / "supply.pdf"
    path.write_bytes(data)
    return path, data


@pytest.fixture(scope="module")
def loaded(pdf):
    """The document's text and page map exactly as ingestion stores them."""
    doc = load_bytes(pdf[1], "supply.pdf")
    return doc.text, [[p.number, p.char_start, p.char_end] for p in doc.pages]


def where_pdf_says(data: bytes, page: int, text: str, nth: int = 0):
    """The box of a line of text from the PDF's own positions (pypdf), as page fractions."""
    runs = [r for r in pdf_text_positions(data, page - 1) if r[0] == text]
    _, x, y, size = runs[nth]
    return expected_box(text, x, y, size)


def boxes_for(path, loaded, start: int, end: int) -> list[dict]:
    text, spans = loaded
    return passage_boxes(path, text, spans, start, end)


@pytest.mark.unit
def test_a_sentence_on_page_2_is_boxed_where_the_pdf_draws_it(pdf, loaded):
    path, data = pdf
    text, _ = loaded
    start = text.index(WARRANTY)
    [page] = boxes_for(path, loaded, start, start + len(WARRANTY))
    assert page["page"] == 2 and (page["width"], page["height"]) == (PAGE_W, PAGE_H)
    [box] = page["boxes"]
    want = where_pdf_says(data, 2, WARRANTY)
    assert want[0] == pytest.approx(150 / PAGE_W)  # the PDF agrees with where the test drew it
    assert iou(box_tuple(box), want) > 0.7, (box, want)
    assert all(0 <= v <= 1 for v in box_tuple(box))


@pytest.mark.unit
def test_a_hyphenated_sentence_over_two_lines_has_a_box_per_line(pdf, loaded):
    path, data = pdf
    text, _ = loaded
    start = text.index("The supplier shall")
    end = text.index("defective products.") + len("defective products.")
    assert "dam-\nages" in text[start:end]
    [page] = boxes_for(path, loaded, start, end)
    first, second = page["boxes"]
    assert iou(box_tuple(first), where_pdf_says(data, 2, HYPHEN_1)) > 0.7
    assert iou(box_tuple(second), where_pdf_says(data, 2, HYPHEN_2)) > 0.7
    assert first["y"] + first["h"] <= second["y"] + 1e-3  # the second line is below the first


@pytest.mark.unit
def test_part_of_a_line_is_boxed_alone(pdf, loaded):
    path, data = pdf
    text, _ = loaded
    start = text.index("twenty-four months")
    [page] = boxes_for(path, loaded, start, start + len("twenty-four months"))
    [box] = page["boxes"]
    x0 = expected_box("The warranty period is ", 150, 600)[2]
    x1 = expected_box("The warranty period is twenty-four months", 150, 600)[2]
    assert box["x"] == pytest.approx(x0, abs=0.01) and box["x"] + box["w"] == pytest.approx(x1, abs=0.01)


@pytest.mark.unit
def test_a_repeated_sentence_is_boxed_at_the_cited_occurrence(pdf, loaded):
    path, data = pdf
    text, _ = loaded
    second = text.rindex(NOTICE)
    assert second != text.index(NOTICE)
    [page] = boxes_for(path, loaded, second, second + len(NOTICE))
    [box] = page["boxes"]
    assert iou(box_tuple(box), where_pdf_says(data, 2, NOTICE, nth=1)) > 0.7
    assert iou(box_tuple(box), where_pdf_says(data, 2, NOTICE, nth=0)) == 0


@pytest.mark.unit
def test_a_span_across_pages_has_boxes_on_each(pdf, loaded):
    path, data = pdf
    text, _ = loaded
    start = text.index(LAST_OF_PAGE_1)
    end = text.index(FIRST_OF_PAGE_2) + len(FIRST_OF_PAGE_2)
    one, two = boxes_for(path, loaded, start, end)
    assert (one["page"], two["page"]) == (1, 2)
    assert iou(box_tuple(one["boxes"][0]), where_pdf_says(data, 1, LAST_OF_PAGE_1)) > 0.7
    assert iou(box_tuple(two["boxes"][0]), where_pdf_says(data, 2, FIRST_OF_PAGE_2)) > 0.7


def dark_share(png: bytes, box: dict) -> tuple[float, float]:
    """Share of dark pixels inside the box, and in the rest of the image (Pillow decodes)."""
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    h, w = img.shape
    x0, y0 = int(box["x"] * w), int(box["y"] * h)
    x1, y1 = int((box["x"] + box["w"]) * w) + 1, int((box["y"] + box["h"]) * h) + 1
    dark = img < 128
    inside = dark[y0:y1, x0:x1]
    outside = dark.sum() - inside.sum()
    return inside.mean(), outside / (dark.size - inside.size)


@pytest.mark.unit
def test_the_image_is_the_requested_width_and_its_ink_is_inside_the_boxes(pdf, loaded):
    from PIL import Image

    path, _ = pdf
    text, _ = loaded
    image = render_page_png(path, 2, 800)
    assert image.png.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = Image.open(io.BytesIO(image.png))
    assert decoded.size == (800, round(800 * PAGE_H / PAGE_W)) == (image.width, image.height)
    start = text.index(WARRANTY)
    [box] = boxes_for(path, loaded, start, start + len(WARRANTY))[0]["boxes"]
    inside, outside = dark_share(image.png, box)
    assert inside > 0.08 and outside < 0.01, (inside, outside)


@pytest.mark.unit
def test_a_rotated_page_is_drawn_turned_and_its_boxes_turn_with_it(pdf, loaded, tmp_path):
    from pypdf import PdfReader, PdfWriter
    from PIL import Image

    writer = PdfWriter()
    for page in PdfReader(pdf[0]).pages:
        writer.add_page(page)
    writer.pages[1].rotate(90)
    rotated = tmp_path / "rotated.pdf"
    with rotated.open("wb") as f:
        writer.write(f)
    text, _ = loaded
    start = text.index(WARRANTY)
    [page] = boxes_for(rotated, loaded, start, start + len(WARRANTY))
    assert (page["width"], page["height"]) == (PAGE_H, PAGE_W)  # landscape now
    [box] = page["boxes"]
    assert box["h"] > 3 * box["w"]  # the line runs down the page
    # turned a quarter clockwise: the top edge is now the right one
    x0, y0, x1, y1 = where_pdf_says(pdf[1], 2, WARRANTY)
    assert iou(box_tuple(box), (1 - y1, x0, 1 - y0, x1)) > 0.7
    image = render_page_png(rotated, 2, 700)
    assert Image.open(io.BytesIO(image.png)).size == (700, round(700 * PAGE_W / PAGE_H))
    inside, outside = dark_share(image.png, box)
    assert inside > 0.08 and outside < 0.01, (inside, outside)


@pytest.mark.unit
def test_a_page_the_pdf_lacks_is_not_found(pdf, loaded):
    with pytest.raises(NotFoundError, match="page 3 does not exist: the document has 2 pages"):
        render_page_png(pdf[0], 3, 500)
    text, _ = loaded
    with pytest.raises(NotFoundError):
        passage_boxes(pdf[0], text, [[3, 0, 10]], 0, 5)


@pytest.mark.unit
def test_a_file_pdfium_cannot_open_is_no_page_images(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\n1 0 obj <<>> garbage")
    with pytest.raises(NoPageImagesError, match="cannot be opened"):
        render_page_png(bad, 1, 500)


@pytest.mark.unit
def test_big_pages_are_drawn_within_the_pixel_budget(pdf):
    assert image_size(612, 792, 1000, 8_000_000) == (1000, 1294)
    w, h = image_size(612, 7920, 2000, 4_000_000)  # a page ten times as long
    assert w * h <= 4_000_000 and h / w == pytest.approx(7920 / 612, rel=0.01)
    image = render_page_png(pdf[0], 1, 2000, max_pixels=1_000_000)
    assert image.width * image.height <= 1_000_000 and image.width < 2000


@pytest.mark.unit
def test_the_quote_is_found_when_the_two_texts_differ():
    pdfium = "The quick brown fax jumps over the lazy dog."
    page = "The quick brown fox jumps over the lazy dog."
    start = page.index("brown")
    end = page.index("jumps") + len("jumps")
    found = locate(page, start, end, pdfium)  # not verbatim: aligned by words
    assert pdfium[found[0]:found[-1] + 1] == "brown fax jumps"
    # spacing, case, hyphenation and ligatures do not matter
    pdfium = "indemni\x02fication  of  THE firm"
    found = locate("Indemni-\nfication of the ﬁrm", 0, 28, pdfium)
    assert (found[0], found[-1]) == (0, len(pdfium) - 1)
    assert locate(page, start, end, "Nothing alike at all here.") == []
    assert locate(page, 3, 4, pdfium) == []  # a space alone has no letters to find


@pytest.mark.unit
def test_skeleton_maps_back_to_the_source():
    skel, where = skeleton("A ﬁ-x", base=10)
    assert skel == "afix" and where == [10, 12, 12, 14]


@pytest.mark.unit
def test_the_cache_keeps_the_recently_used_within_its_byte_budget():
    cache = PageImageCache(max_bytes=250)
    img = lambda n: PageImage(b"x" * n, 1, 1)  # noqa: E731
    cache.put("a", img(100))
    cache.put("b", img(100))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", img(100))  # over budget: b goes
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    assert cache.bytes == 200 and len(cache) == 2
    cache.put("huge", img(300))  # larger than the whole budget: not kept, nothing evicted
    assert cache.get("huge") is None and len(cache) == 2
    assert cache.hits == 3 and cache.misses == 2


@pytest.mark.slow
def test_runtime_highlight_of_an_ingested_pdf_and_a_text_file(runtime, pdf, tmp_path):
    """Through the real pipeline: the stored text's span of a page-2 sentence comes back
    with page 2 and its box where the PDF draws it; a text file has no pages."""
    path, data = pdf
    notes = tmp_path / "notes.txt"
    notes.write_text("Alpha beta. The remote needs two AA batteries. Gamma delta.")
    results = {Path(r.path).name: r for r in runtime.ingest([path, notes], "pages")}
    assert all(r.status == "indexed" for r in results.values()), results
    doc_id = results["supply.pdf"].document_id
    text = runtime.store.get_document(doc_id).text
    start = text.index(WARRANTY)
    h = runtime.highlight(doc_id, start, start + len(WARRANTY))
    assert (h["kind"], h["page"], h["quote"], h["document_name"]) == ("pdf", 2, WARRANTY, "supply.pdf")
    assert h["before"].endswith("Notices must be sent in writing.\n") and h["after"].startswith("\nThe supplier")
    [page] = h["pages"]
    assert page["page"] == 2 and iou(box_tuple(page["boxes"][0]), where_pdf_says(data, 2, WARRANTY)) > 0.7

    png, etag = runtime.page_image(doc_id, 2, 600)
    assert png.startswith(b"\x89PNG") and etag in runtime.page_image(doc_id, 2, 600)[1]
    assert runtime.page_image(doc_id, 2, 600, client_etags=[etag]) == (None, etag)
    assert runtime.page_images.hits >= 1

    txt_id = results["notes.txt"].document_id
    t = runtime.store.get_document(txt_id).text
    s = t.index("The remote")
    h = runtime.highlight(txt_id, s, s + len("The remote needs two AA batteries."))
    assert (h["kind"], h["pages"], h["page"]) == ("text", [], 1)
    assert (h["before"], h["quote"], h["after"]) == ("Alpha beta. ", "The remote needs two AA batteries.", " Gamma delta.")
    with pytest.raises(NoPageImagesError, match="not a PDF"):
        runtime.page_image(txt_id, 1, 600)
    with pytest.raises(InvalidSpanError):
        runtime.highlight(txt_id, 5, len(t) + 1)
    with pytest.raises(NotFoundError):
        runtime.highlight(doc_id, 0, 5, tenant="someone-else")
