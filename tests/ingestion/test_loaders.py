"""Loaders on real generated files, including every kind of bad input."""
import pytest
from docgen import encrypt_pdf, make_docx, make_image_only_pdf, make_pdf

from core.errors import LoaderError
from ingestion.loaders import load_bytes

pytestmark = pytest.mark.unit


def test_pdf_text_and_page_map():
    doc = load_bytes(make_pdf(["First page text.", "Second page text.", "Third page text."]), "x.pdf")
    assert doc.mime == "application/pdf"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    for n, page in enumerate(doc.pages, 1):
        assert doc.text[page.char_start:page.char_end] == ["First", "Second", "Third"][n - 1] + " page text."
    assert doc.page_of(doc.text.index("Second")) == 2


def test_pdf_with_empty_user_password_is_decrypted():
    doc = load_bytes(encrypt_pdf(make_pdf(["Secret but openable."]), user_password=""), "e.pdf")
    assert "Secret but openable." in doc.text


def test_pdf_with_real_password_fails_clearly():
    with pytest.raises(LoaderError, match="^encrypted PDF: password required$"):
        load_bytes(encrypt_pdf(make_pdf(["hidden"]), user_password="hunter2"), "p.pdf")


def test_image_only_pdf_fails_clearly():
    with pytest.raises(LoaderError, match=r"^no extractable text \(scanned PDF\? OCR is not enabled\)$"):
        load_bytes(make_image_only_pdf(), "scan.pdf")


@pytest.mark.parametrize(
    "data,name,message",
    [
        (b"", "empty.pdf", "empty file (0 bytes)"),
        (b"%PDF-1.7\n garbage garbage", "broken.pdf", "corrupt or unreadable PDF"),
        (b"PK\x03\x04 not a zip", "broken.docx", "corrupt or unreadable DOCX"),
        (b"col1,col2\n1,2\n", "table.csv", "unsupported file type '.csv'"),
        (b"\x00\x01\x02binary", "blob.txt", "binary file"),
        (b"   \n\n  ", "blank.txt", "no text content"),
    ],
)
def test_bad_input_gets_clear_error(data, name, message):
    with pytest.raises(LoaderError) as info:
        load_bytes(data, name)
    assert message in str(info.value)


def test_content_wins_over_extension():
    doc = load_bytes(make_pdf(["Really a PDF."]), "misnamed.txt")
    assert doc.mime == "application/pdf" and "Really a PDF." in doc.text


def test_docx_paragraphs_and_tables():
    doc = load_bytes(make_docx(["Master Services Agreement", "Term: two years."], [["Party", "Role"], ["Acme", "Vendor"]]), "a.docx")
    assert "Term: two years." in doc.text
    assert "Acme | Vendor" in doc.text
    assert len(doc.pages) == 1


def test_html_drops_scripts_and_keeps_title():
    html = b"<html><head><title>Privacy Policy</title><script>var x=1;</script></head><body><h1>Data</h1><p>We collect email.</p></body></html>"
    doc = load_bytes(html, "p.html")
    assert "We collect email." in doc.text and "var x" not in doc.text
    assert doc.metadata["file_title"] == "Privacy Policy"


def test_markdown_and_text_encodings():
    assert "# Setup" in load_bytes(b"# Setup\n\nPress the button.", "m.md").text
    assert load_bytes("Caf\u00e9 cr\u00e8me".encode("cp1252"), "latin.txt").text == "Caf\u00e9 cr\u00e8me"
    assert load_bytes("\ufeffBOM text".encode("utf-8"), "bom.txt").text == "BOM text"
    assert load_bytes("\ufb01nance".encode("utf-8"), "lig.txt").text == "finance"  # NFKC ligature
