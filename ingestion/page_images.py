"""Page images of PDF documents and the boxes of a passage on its page (pypdfium2).

A citation or a clause carries a character span into the document's normalised text
(`Document.text`, made by the loaders from pypdf's text). The browser shows it on the page
it came from: `render_page_png` draws the page, `passage_boxes` finds the span's characters
on that page and returns their boxes, merged per line, as fractions of the drawn page
(origin top-left, y downwards), so they hold at any image width.

The document's text and PDFium's text of the same page differ (pypdf and PDFium order,
space and de-hyphenate differently), so offsets cannot be carried over. Both sides are
reduced to the same skeleton (NFKC, case-folded letters and digits only), each skeleton
character remembering where it came from; the quote's skeleton is looked up in the page's.
When it is not there verbatim, the page's words are aligned with difflib and the boxes
cover the best-matching run, or nothing: never an error.

PDFium is not thread-safe, even across documents: every call into it holds `PDFIUM_LOCK`.
"""
from __future__ import annotations

import difflib
import struct
import threading
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import DocIntelError, NotFoundError

PDFIUM_LOCK = threading.RLock()
PDF_MIME = "application/pdf"
# Fractions of a page are given with this many decimals (a 2000 px image is off by < 0.02 px).
DECIMALS = 5
# The word alignment (difflib) of the fallback is quadratic in the worst case: pages with
# more words than this are not aligned (no boxes instead of a slow request).
MAX_ALIGN_WORDS = 3000


class NoPageImagesError(DocIntelError):
    """The document has no pages to draw (it is not a PDF, or PDFium cannot open it)."""


class InvalidSpanError(DocIntelError):
    """A character span that is not within the document's text."""


# -- rendering ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PageImage:
    png: bytes
    width: int  # pixels
    height: int


def _open(path: Path):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        # encrypted with a real password, or damaged past what PDFium repairs
        raise NoPageImagesError(f"the PDF cannot be opened for drawing ({exc})") from exc


def _page(pdf, number: int):
    count = len(pdf)
    if not 1 <= number <= count:
        raise NotFoundError(f"page {number} does not exist: the document has {count} page{'s' * (count != 1)}")
    return pdf[number - 1]


def image_size(page_width: float, page_height: float, width: int, max_pixels: int) -> tuple[int, int]:
    """Pixel size of a page drawn `width` pixels wide, made smaller to fit `max_pixels`
    (a very long page keeps its proportions at a lower width)."""
    height = max(1, round(width * page_height / page_width))
    if width * height > max_pixels:
        shrink = (max_pixels / (width * height)) ** 0.5
        width, height = max(1, int(width * shrink)), max(1, int(height * shrink))
    return width, height


def render_page_png(path: Path, number: int, width: int, max_pixels: int = 8_000_000) -> PageImage:
    """Page `number` (1-based) of the PDF at `path`, drawn `width` pixels wide, as PNG.
    Raises NotFoundError for a page the PDF does not have."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    with PDFIUM_LOCK:
        pdf = _open(path)
        try:
            page = _page(pdf, number)
            pw, ph = page.get_size()  # after the page's rotation and crop box
            w, h = image_size(pw, ph, width, max_pixels)
            bitmap = pdfium.PdfBitmap.new_native(w, h, raw.FPDFBitmap_BGR, rev_byteorder=True)
            bitmap.fill_rect((255, 255, 255, 255), 0, 0, w, h)
            # Exactly w x h (PdfPage.render rounds the scale's product up, one pixel off at times).
            raw.FPDF_RenderPageBitmap(bitmap, page, 0, 0, w, h, 0, raw.FPDF_ANNOT | raw.FPDF_REVERSE_BYTE_ORDER)
            pixels = bitmap.to_numpy().copy()
            bitmap.close()
            page.close()
        finally:
            pdf.close()
    return PageImage(encode_png(pixels), w, h)


def encode_png(rgb) -> bytes:
    """An RGB array (h, w, 3) as PNG; a page with no colour (most contracts) as greyscale,
    a third of the bytes to compress. zlib releases the GIL while it works."""
    import numpy as np

    h, w, _ = rgb.shape
    grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    data = rgb[..., 0] if grey else rgb.reshape(h, w * 3)
    rows = np.zeros((h, data.shape[1] + 1), np.uint8)  # each row starts with filter type 0
    rows[:, 1:] = data

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if grey else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))


class PageImageCache:
    """Rendered pages, least recently used out first, within a byte budget. Thread-safe."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._items: OrderedDict[tuple, PageImage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> PageImage | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: tuple, item: PageImage) -> None:
        size = len(item.png)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old.png)
            self._items[key] = item
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.bytes -= len(evicted.png)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)


# -- passages on the page -----------------------------------------------------------------

def skeleton(text: str, base: int = 0) -> tuple[str, list[int]]:
    """The letters and digits of `text`, NFKC-normalised and case-folded, with the index
    (plus `base`) each one came from. Spaces, punctuation and hyphens are left out, so
    line breaks, de-hyphenation and spacing do not matter."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            if ch.isalnum():
                chars.append(ch.lower())
                where.append(base + i)
            continue
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                chars.append(c)
                where.append(base + i)
    return "".join(chars), where


def _words(skel: str, where: list[int]) -> list[tuple[str, int, int]]:
    """(word, first, last source index) for runs of the skeleton whose sources are adjacent."""
    out: list[tuple[str, int, int]] = []
    start = 0
    for k in range(1, len(skel) + 1):
        if k == len(skel) or where[k] - where[k - 1] > 1:
            if k > start:
                out.append((skel[start:k], where[start], where[k - 1]))
            start = k
    return out


class PageText:
    """A PDF page's characters as PDFium reads them (one per char index), its size in
    points, and the boxes of chosen characters as fractions of the drawn page. Used while
    PDFIUM_LOCK is held and its document open."""

    def __init__(self, page, number: int):
        import pypdfium2.raw as raw

        self.page, self.number = page, number
        self.width, self.height = page.get_size()  # after the page's rotation and crop box
        self.textpage = page.get_textpage()
        n = self.textpage.count_chars()
        chars = []
        for i in range(n):
            code = raw.FPDFText_GetUnicode(self.textpage, i)
            chars.append(chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else "\ufffd")
        self.text = "".join(chars)

    def close(self) -> None:
        self.textpage.close()

    def generated(self, i: int) -> bool:
        """A space or line break PDFium made up: it has no box."""
        import pypdfium2.raw as raw

        return raw.FPDFText_IsGenerated(self.textpage, i) == 1

    def boxes(self, indices: Sequence[int]) -> list[tuple[float, float, float, float]]:
        """(x0, y0, x1, y1) per char: fractions of the page, origin top-left; PDFium's loose
        boxes (the font's whole line height, so a line's boxes line up). Generated or
        box-less chars are (0, 0, 0, 0)."""
        import ctypes

        import pypdfium2.raw as raw

        # Page space -> fractions of the drawn page through PDFium's own mapping on a large
        # virtual device: the crop box and the rotation apply exactly as when rendering.
        dev_w = 100_000
        dev_h = max(1, round(dev_w * self.height / self.width))
        rect = raw.FS_RECTF()
        dx, dy = ctypes.c_int(), ctypes.c_int()

        def to_device(x: float, y: float) -> tuple[float, float]:
            raw.FPDF_PageToDevice(self.page, 0, 0, dev_w, dev_h, 0, x, y, dx, dy)
            return dx.value / dev_w, dy.value / dev_h

        out = []
        for i in indices:
            if self.generated(i) or not raw.FPDFText_GetLooseCharBox(self.textpage, i, rect):
                out.append((0.0, 0.0, 0.0, 0.0))
                continue
            x0, y0 = to_device(rect.left, rect.top)
            x1, y1 = to_device(rect.right, rect.bottom)
            out.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        return out


def locate(page_text: str, quote_start: int, quote_end: int, pdf_text: str) -> list[int]:
    """PDFium char indices (into `pdf_text`) of the passage `page_text[quote_start:quote_end]`.

    Exact on the skeletons first (the occurrence nearest the quote's relative place on the
    page when it occurs more than once), else the words matched by difflib's alignment of
    the two pages; [] when nothing matches."""
    doc_skel, doc_where = skeleton(page_text)
    pdf_skel, pdf_where = skeleton(pdf_text)
    if not doc_skel or not pdf_skel:
        return []
    lo = _bisect(doc_where, quote_start)
    hi = _bisect(doc_where, quote_end)
    quote = doc_skel[lo:hi]
    if not quote:
        return []
    hits = []
    at = pdf_skel.find(quote)
    while at != -1 and len(hits) < 1000:
        hits.append(at)
        at = pdf_skel.find(quote, at + 1)
    if hits:
        want = lo / len(doc_skel) * len(pdf_skel)
        best = min(hits, key=lambda h: abs(h - want))
        first, last = pdf_where[best], pdf_where[best + len(quote) - 1]
        return list(range(first, last + 1))
    return _align(doc_skel, doc_where, pdf_skel, pdf_where, quote_start, quote_end)


def _bisect(where: list[int], offset: int) -> int:
    import bisect

    return bisect.bisect_left(where, offset)


def _align(doc_skel, doc_where, pdf_skel, pdf_where, quote_start: int, quote_end: int) -> list[int]:
    doc_words = _words(doc_skel, doc_where)
    pdf_words = _words(pdf_skel, pdf_where)
    if not doc_words or not pdf_words or max(len(doc_words), len(pdf_words)) > MAX_ALIGN_WORDS:
        return []
    matcher = difflib.SequenceMatcher(None, [w for w, _, _ in doc_words], [w for w, _, _ in pdf_words], autojunk=False)
    matched: list[int] = []  # pdf word indices of the quote's words, in order
    for i, j, size in matcher.get_matching_blocks():
        for k in range(size):
            _, a, b = doc_words[i + k]
            if a < quote_end and b >= quote_start:
                matched.append(j + k)
    if not matched:
        return []
    # The longest run of consecutive matched words: the passage, not stray common words.
    runs: list[list[int]] = [[matched[0]]]
    for w in matched[1:]:
        if w - runs[-1][-1] <= 2:
            runs[-1].append(w)
        else:
            runs.append([w])
    best = max(runs, key=len)
    return list(range(pdf_words[best[0]][1], pdf_words[best[-1]][2] + 1))


def line_boxes(page: PageText, indices: Sequence[int]) -> list[dict[str, float]]:
    """The boxes of these characters merged into one per line, as fractions of the page.

    A character continues the line of the one before it when the two overlap by half a
    character across the line and it does not go back along it: across is vertical for a
    line running left to right, horizontal for one running down or up a turned page (a
    line's direction is set by its second character)."""
    lines: list[list[float]] = []
    prev: tuple[float, float, float, float] | None = None
    direction = None  # "h" or "v" once the current line has two characters
    for i, (x0, y0, x1, y1) in zip(indices, page.boxes(indices)):
        if x1 <= x0 or y1 <= y0 or page.text[i].isspace():
            continue
        joined = None
        if prev is not None:
            px0, py0, px1, py1 = prev
            y_overlap = min(py1, y1) - max(py0, y0)
            x_overlap = min(px1, x1) - max(px0, x0)
            if direction != "v" and y_overlap >= 0.5 * min(py1 - py0, y1 - y0) and x0 >= px0 - 0.005:
                joined = "h"
            elif direction != "h" and x_overlap >= 0.5 * min(px1 - px0, x1 - x0):
                joined = "v"
        if joined:
            cur = lines[-1]
            cur[0], cur[1], cur[2], cur[3] = min(cur[0], x0), min(cur[1], y0), max(cur[2], x1), max(cur[3], y1)
        else:
            lines.append([x0, y0, x1, y1])
        direction = joined
        prev = (x0, y0, x1, y1)
    return [{"x": round(x0, DECIMALS), "y": round(y0, DECIMALS), "w": round(x1 - x0, DECIMALS),
             "h": round(y1 - y0, DECIMALS)} for x0, y0, x1, y1 in lines]


def passage_boxes(path: Path, text: str, page_spans: Sequence[Sequence[int]], char_start: int,
                  char_end: int) -> list[dict]:
    """For each page the span [char_start, char_end) of `text` touches (by `page_spans`,
    [[page, start, end], ...]): its number, size in points, and the boxes of the span's
    characters on it, one per line, as fractions of the page (origin top-left)."""
    parts = [(int(n), max(char_start, a), min(char_end, b), a, b) for n, a, b in page_spans
             if min(char_end, b) > max(char_start, a)]
    out = []
    if not parts:
        return out
    with PDFIUM_LOCK:
        pdf = _open(path)
        try:
            for number, start, end, page_start, page_end in parts:
                page = _page(pdf, number)
                reader = PageText(page, number)
                try:
                    indices = locate(text[page_start:page_end], start - page_start, end - page_start, reader.text)
                    indices = _with_edges(reader, indices, text[start:end])
                    out.append({"page": number, "width": round(reader.width, 2), "height": round(reader.height, 2),
                                "boxes": line_boxes(reader, indices)})
                finally:
                    reader.close()
                    page.close()
        finally:
            pdf.close()
    return out


def _with_edges(page: PageText, indices: list[int], quote: str) -> list[int]:
    """Add the punctuation the skeleton left out at the passage's ends (an opening quote
    mark, a closing full stop): as many characters as the quote has there."""
    if not indices:
        return indices
    stripped = quote.strip()
    lead = next((k for k, c in enumerate(stripped) if c.isalnum()), 0)
    trail = next((k for k, c in enumerate(reversed(stripped)) if c.isalnum()), 0)
    first, last = indices[0], indices[-1]

    def punct(i: int) -> bool:
        ch = page.text[i]
        return not ch.isspace() and not ch.isalnum() and not page.generated(i)

    while lead and first > 0 and punct(first - 1):
        first, lead = first - 1, lead - 1
    while trail and last + 1 < len(page.text) and punct(last + 1):
        last, trail = last + 1, trail - 1
    return list(range(first, last + 1))


__all__ = ["InvalidSpanError", "NoPageImagesError", "PageImage", "PageImageCache", "PageText", "PDF_MIME", "encode_png", "image_size",
           "line_boxes", "locate", "passage_boxes", "render_page_png", "skeleton"]
