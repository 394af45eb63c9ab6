"""Page images and highlights over HTTP, as the web UI's citation panel calls them: a PDF
uploaded as a job, its page 2 drawn and the cited passage boxed where the PDF draws it."""
from __future__ import annotations

import struct

import pytest
from apihelp import wait_job
from pagedocs import PAGE_H, PAGE_W, WARRANTY, box_tuple, expected_box, iou, pdf_text_positions, two_page_pdf

pytestmark = pytest.mark.slow

NOTES = b"Alpha beta gamma. The remote control needs two AA batteries. Delta epsilon."


@pytest.fixture(scope="module")
def docs(api):
    """Tenant acme's collection 'pages' with the two-page PDF and a text file."""
    c, h = api["client"], api["acme"]
    assert c.post("/v1/collections", json={"name": "pages"}, headers=h).status_code == 201
    pdf = two_page_pdf()
    files = [("files", ("supply.pdf", pdf, "application/pdf")), ("files", ("notes.txt", NOTES, "text/plain"))]
    r = c.post("/v1/collections/pages/documents", files=files, headers=h)
    assert r.status_code == 202, r.text
    job = wait_job(c, h, r.json()["id"])
    assert job["status"] == "succeeded" and job["result"]["indexed"] == 2, job
    by_name = {d["name"]: d["document_id"] for d in c.get("/v1/collections/pages/documents", headers=h).json()["documents"]}
    return {"pdf": by_name["supply.pdf"], "txt": by_name["notes.txt"], "bytes": pdf}


def problem(r, status: int, kind: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/" + kind) and body["detail"], body
    return body


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_a_page_image_is_a_png_of_the_requested_width_cached_with_an_etag(api, docs):
    c, h = api["client"], api["acme_read"]
    url = f"/v1/documents/{docs['pdf']}/pages/2/image"
    hits = api["rt"].page_images.hits
    first = c.get(url, params={"width": 640}, headers=h)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png"
    assert first.headers["cache-control"] == "private, max-age=3600"
    assert first.headers["vary"] == "Authorization, Cookie"
    assert png_size(first.content) == (640, round(640 * PAGE_H / PAGE_W))
    etag = first.headers["etag"]
    again = c.get(url, params={"width": 640}, headers=h)
    assert again.headers["etag"] == etag and again.content == first.content
    assert api["rt"].page_images.hits == hits + 1  # served from the cache, not drawn again
    other = c.get(url, params={"width": 300}, headers=h)
    assert png_size(other.content)[0] == 300 and other.headers["etag"] != etag
    assert png_size(c.get(url, headers=h).content)[0] == 1000  # the default width
    not_modified = c.get(url, params={"width": 640}, headers={**h, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified.headers["etag"] == etag
    assert c.get(url, params={"width": 300}, headers={**h, "If-None-Match": etag}).status_code == 200


def test_page_image_errors_are_problems(api, docs):
    c, h = api["client"], api["acme_read"]
    body = problem(c.get(f"/v1/documents/{docs['pdf']}/pages/99/image", headers=h), 404, "not-found")
    assert body["detail"] == "page 99 does not exist: the document has 2 pages"
    problem(c.get(f"/v1/documents/{docs['pdf']}/pages/0/image", headers=h), 422, "validation")
    for width in (199, 2001, "wide"):
        body = problem(c.get(f"/v1/documents/{docs['pdf']}/pages/1/image", params={"width": width}, headers=h),
                       422, "validation")
        assert body["errors"][0]["field"] == "width"
    body = problem(c.get(f"/v1/documents/{docs['txt']}/pages/1/image", headers=h), 409, "no-page-images")
    assert "not a PDF" in body["detail"]
    problem(c.get("/v1/documents/999999/pages/1/image", headers=h), 404, "not-found")
    problem(c.get(f"/v1/documents/{docs['pdf']}/pages/1/image"), 401, "unauthorized")


def test_another_tenant_sees_neither_images_nor_highlights(api, docs):
    c, h = api["client"], api["globex"]
    problem(c.get(f"/v1/documents/{docs['pdf']}/pages/1/image", headers=h), 404, "not-found")
    problem(c.get(f"/v1/documents/{docs['pdf']}/highlight", params={"char_start": 0, "char_end": 5}, headers=h),
            404, "not-found")
    # not even with the ETag acme's client holds
    etag = c.get(f"/v1/documents/{docs['pdf']}/pages/1/image", headers=api["acme"]).headers["etag"]
    problem(c.get(f"/v1/documents/{docs['pdf']}/pages/1/image", headers={**h, "If-None-Match": etag}), 404, "not-found")


def test_highlight_of_a_sentence_on_page_2(api, docs):
    c, h = api["client"], api["acme_read"]
    # the document's text offsets, as chunks carry them
    chunk = next(ch for ch in c.get(f"/v1/documents/{docs['pdf']}/chunks", headers=h).json()["chunks"]
                 if WARRANTY in ch["text"])
    start = chunk["char_start"] + chunk["text"].index(WARRANTY)
    r = c.get(f"/v1/documents/{docs['pdf']}/highlight", params={"char_start": start, "char_end": start + len(WARRANTY)},
              headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"document_id", "document_name", "kind", "char_start", "char_end", "quote", "before", "after",
                         "page", "pages"}
    assert (body["kind"], body["page"], body["quote"], body["document_name"]) == ("pdf", 2, WARRANTY, "supply.pdf")
    assert body["before"].endswith("Notices must be sent in writing.\n")
    assert body["after"].startswith("\nThe supplier shall")
    [page] = body["pages"]
    assert (page["page"], page["width"], page["height"]) == (2, PAGE_W, PAGE_H)
    [box] = page["boxes"]
    [(_, x, y, size)] = [r for r in pdf_text_positions(docs["bytes"], 1) if r[0] == WARRANTY]
    assert iou(box_tuple(box), expected_box(WARRANTY, x, y, size)) > 0.7


def test_highlight_of_a_citation_opens_its_page(api, docs):
    """The UI's path: an answer's citation (page and span) -> highlight -> boxes on that page."""
    c, h = api["client"], api["acme_read"]
    r = c.post("/v1/answer", headers=h, json={"collection": "pages", "question": "How long is the warranty period?",
                                              "document_ids": [docs["pdf"]]})
    assert r.status_code == 200, r.text
    answer = r.json()
    cites = answer["citations"] + ([answer["excerpt"]["citation"]] if answer.get("excerpt") else [])
    assert cites and not answer["abstained"], answer
    assert any(cite["page"] == 2 and "twenty-four months" in cite["quote"] for cite in cites), cites
    [(_, x, y, size)] = [r for r in pdf_text_positions(docs["bytes"], 1) if r[0] == WARRANTY]
    warranty_box = expected_box(WARRANTY, x, y, size)
    overlaps = []
    for cite in cites:
        hl = c.get(f"/v1/documents/{cite['document_id']}/highlight", headers=h,
                   params={"char_start": cite["char_start"], "char_end": cite["char_end"]}).json()
        assert hl["page"] == cite["page"] and hl["quote"] == cite["quote"]
        assert hl["pages"][0]["page"] == cite["page"] and hl["pages"][0]["boxes"], hl
        if "twenty-four months" in cite["quote"]:
            overlaps.append(max(iou(box_tuple(b), warranty_box) for b in hl["pages"][0]["boxes"]))
    assert overlaps and max(overlaps) > 0.5, overlaps


def test_highlight_of_a_text_document_and_bad_spans(api, docs):
    c, h = api["client"], api["acme_read"]
    text = NOTES.decode()
    start = text.index("The remote")
    end = text.index("batteries.") + len("batteries.")
    url = f"/v1/documents/{docs['txt']}/highlight"
    body = c.get(url, params={"char_start": start, "char_end": end}, headers=h).json()
    assert (body["kind"], body["pages"], body["page"]) == ("text", [], 1)
    assert (body["before"], body["quote"], body["after"]) == ("Alpha beta gamma. ", "The remote control needs two AA "
                                                              "batteries.", " Delta epsilon.")
    for params, field in (({"char_start": 5, "char_end": 5}, "char_end"), ({"char_start": 9, "char_end": 3}, "char_end"),
                          ({"char_start": 0, "char_end": len(text) + 1}, "char_end"),
                          ({"char_start": -1, "char_end": 3}, "char_start"), ({"char_end": 3}, "char_start")):
        body = problem(c.get(url, params=params, headers=h), 422, "validation")
        assert (body.get("field") or body["errors"][0]["field"]) == field, body
    problem(c.get("/v1/documents/999999/highlight", params={"char_start": 0, "char_end": 1}, headers=h), 404, "not-found")
