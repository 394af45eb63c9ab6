"""The web UI in headless Chromium (Debian's, driven by Playwright) against a live
`docintel serve`: sign-in, upload, a streamed answer whose citation opens its page with the
passage boxed where the PDF has that text, a contract review, tenant isolation, narrow
screens. Screenshots of each screen go to test-output/ui/ (not committed)."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import httpx
import pytest
from apihelp import CONTRACT, LiveServer, contract_pdf, wait_job
from docgen import make_pdf

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SHOTS = Path(os.environ.get("DOCINTEL_UI_SCREENSHOTS", Path(__file__).resolve().parents[2] / "test-output" / "ui"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# How the machine's notes start Chromium: without the background-networking flags it keeps
# trying to reach Google's hosts through a closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

MANUAL_PAGES = [
    "Installation Guide\nUnpack the television and place it on a flat stand.\nConnect the power cable to the wall socket.",
    "Remote Control\nThe remote control needs two AAA batteries.\nReplace the batteries every twelve months.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("ui") / "var")
    srv.globex_key = srv.create_key("globex", "admin")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (scripts/test.sh installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"the page's scripts failed: {errors}"


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(pg, key: str) -> None:
    pg.goto("/")
    pg.get_by_label("API key").fill(key)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_selector("#topbar:not([hidden])")


def line_box(pdf: bytes, page: int, needle: str) -> tuple[float, float, float, float]:
    """Where the PDF itself draws the line holding `needle` on `page` (1-based), as
    fractions of the page (x0, top, x1, bottom), from pypdf's text positions: the check does
    not trust the code under test."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    p = reader.pages[page - 1]
    width, height = float(p.mediabox.width), float(p.mediabox.height)
    found = []

    def visit(text, cm, tm, font_dict, font_size):
        if needle in text:
            found.append((tm[4], tm[5], len(text), font_size or 12))

    p.extract_text(visitor_text=visit)
    assert found, f"{needle!r} is not drawn on page {page}"
    x, y, n, size = found[0]
    size = size if size > 1 else 12
    return x / width, 1 - (y + size) / height, (x + 0.6 * size * n) / width, 1 - (y - 0.3 * size) / height


def boxes_on_image(pg) -> list[tuple[float, float, float, float]]:
    """The highlight boxes shown in the panel, as fractions of the page image they sit on."""
    return pg.evaluate("""() => {
        const img = document.querySelector('#panel .page-view img').getBoundingClientRect();
        return [...document.querySelectorAll('#panel .hl-box')].map((b) => {
            const r = b.getBoundingClientRect();
            return [(r.left - img.left) / img.width, (r.top - img.top) / img.height,
                    (r.right - img.left) / img.width, (r.bottom - img.top) / img.height];
        });
    }""")


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_wrong_key_is_refused_and_the_cookie_is_httponly(page, server):
    page.goto("/")
    page.get_by_label("API key").fill("dik_nothere_wrong")
    page.get_by_role("button", name="Sign in").click()
    alert = page.locator("#signin-error")
    alert.wait_for()
    page.wait_for_function("() => document.querySelector('#signin-error').textContent.length > 0")
    assert "unknown or revoked" in alert.inner_text()
    shot(page, "sign-in-error")
    sign_in(page, server.key)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "docintel_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server.key not in cookie["value"]  # the key itself never sits in the browser
    # A script cannot read it, and a cookie-signed write without the UI's header is refused.
    assert "docintel_session" not in page.evaluate("document.cookie")
    status = page.evaluate("""async () => (await fetch('/v1/collections', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: 'csrf'})})).status""")
    assert status == 403


def test_upload_ask_and_check_the_citation_on_its_page(page, server):
    pdf = make_pdf(MANUAL_PAGES)
    sign_in(page, server.key)
    page.goto("/#/collections")
    page.get_by_label("New collection").fill("manuals")
    page.get_by_role("button", name="Create").click()
    page.wait_for_selector("text=Collection “manuals”")
    page.set_input_files("#file-input", files=[{"name": "tv-manual.pdf", "mimeType": "application/pdf", "buffer": pdf},
                                               {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""}])
    row = page.locator(".uploads li[data-file='tv-manual.pdf'] .badge")
    row.wait_for(timeout=240_000)
    assert row.inner_text() == "indexed"
    # The other file of the batch fails on its own, with its reason in plain words.
    failed = page.locator(".uploads li[data-file='empty.txt'] .status")
    assert "refused" in failed.inner_text() or "empty" in failed.inner_text()
    doc_row = page.locator("tr", has_text="tv-manual.pdf")
    doc_row.wait_for()
    cells = doc_row.locator("td").all_inner_texts()
    assert cells[1].startswith("indexed") and cells[2] == "2" and int(cells[3]) >= 1, cells
    shot(page, "documents")

    page.goto("/#/ask")
    page.get_by_label("Your question").fill("How many batteries does the remote control need?")
    page.get_by_role("button", name="Ask").click()
    page.wait_for_selector("#chat-log .msg.bot:not([aria-busy]) .sources .chip", timeout=240_000)
    answer = page.locator("#chat-log .msg.bot").last.inner_text()
    assert "batteries" in answer.lower()
    shot(page, "ask")
    chip = page.locator("#chat-log .sources .chip[data-page='2']").first
    chip.click()
    page.wait_for_selector("#panel .page-view[data-page='2'] img")
    page.wait_for_function("() => document.querySelector('#panel .page-view img').complete")
    boxes = boxes_on_image(page)
    assert boxes, "the cited passage has no highlight box on its page"
    expected = line_box(pdf, 2, "batteries")
    assert any(overlaps(b, expected) for b in boxes), (boxes, expected)
    # The page image is page 2 of the PDF, served at the width asked for.
    src = page.locator("#panel .page-view img").get_attribute("src")
    assert "/pages/2/image" in src
    shot(page, "citation-panel")
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()

    # Search: the query's words are marked in the passages, and a hit opens its page too.
    page.goto("/#/search")
    page.get_by_label("Query").fill("remote batteries")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("#search-results .hit")
    marked = {m.lower() for m in page.locator("#search-results .hit").first.locator("mark").all_inner_texts()}
    assert {"remote", "batteries"} <= marked, marked
    shot(page, "search")
    page.locator("#search-results .hit button").first.click()
    page.wait_for_selector("#panel .page-view img")
    assert page.locator("#panel .hl-box").count() >= 1


def test_review_a_contract_and_see_the_clause_on_its_page(page, server):
    pdf = contract_pdf()
    sign_in(page, server.key)
    page.goto("/#/collections")
    page.get_by_label("New collection").fill("legal")
    page.get_by_role("button", name="Create").click()
    page.wait_for_selector("text=Collection “legal”")
    page.goto("/#/review")
    page.set_input_files("#review-file", files=[{"name": "msa.pdf", "mimeType": "application/pdf", "buffer": pdf}])
    page.get_by_role("button", name="Review").click()
    page.wait_for_selector("#review-clauses", timeout=240_000)
    shot(page, "review-result")
    law = page.locator("details.category[data-category='Governing Law']")
    assert law.count() == 1, page.locator("#review-clauses").inner_text()
    if law.get_attribute("open") is None:
        law.locator("summary").click()
    law.locator(".clause").first.click()
    page.wait_for_selector("#panel .page-view img")
    page.wait_for_function("() => document.querySelector('#panel .page-view img').complete")
    law_page = next(i + 1 for i, text in enumerate(CONTRACT) if "Governing Law" in text)
    assert page.locator("#panel .page-view").first.get_attribute("data-page") == str(law_page)
    expected = line_box(pdf, law_page, "governed by the laws")
    assert any(overlaps(b, expected) for b in boxes_on_image(page))
    assert page.locator("#review-findings").is_visible() and page.locator("#review-terms").is_visible()
    shot(page, "review")


def test_another_tenant_sees_none_of_it(page, server):
    with httpx.Client(base_url=server.url, headers=server.headers) as c:
        c.post("/v1/collections", json={"name": "acme-private"}).raise_for_status()
    sign_in(page, server.globex_key)
    page.goto("/#/collections")
    page.wait_for_selector("h1")
    options = page.locator("#collection-picker option").all_inner_texts()
    assert "acme-private" not in options and "manuals" not in options
    assert "acme-private" not in page.content()
    # Even a direct call with globex's cookie cannot reach acme's document.
    status = page.evaluate("async () => (await fetch('/v1/collections/acme-private/documents')).status")
    assert status == 404


def test_every_control_is_labelled_and_narrow_screens_do_not_scroll_sideways(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=server.url, is_mobile=True)
    pg = context.new_page()
    sign_in(pg, server.key)
    for view in ("collections", "ask", "search", "review", "evaluations"):
        pg.goto(f"/#/{view}")
        pg.wait_for_selector("main h1")
        pg.wait_for_timeout(300)
        unlabelled = pg.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((c) => c.offsetParent !== null || c.type === 'file')
            .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label') && !(c.textContent || '').trim())
            .map((c) => c.outerHTML.slice(0, 80))""")
        assert unlabelled == [], (view, unlabelled)
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (view, width)
        shot(pg, f"narrow-{view}")
    context.close()


def test_evaluations_list_a_run_with_its_report_and_compare_two(page, server):
    root = Path(__file__).resolve().parents[2]
    body = {"suite": "jsonl", "data": str(root / "samples" / "questions.jsonl"), "limit": 2,
            "options": {"documents": str(root / "samples")}}
    ids = []
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as c:
        # the same items twice: as configured, then without the quoted excerpt (a change to compare)
        for overrides in ({}, {"answer_excerpt_sentences": "0"}):
            job = c.post("/v1/evaluations", json={**body, "overrides": overrides}).json()
            ids.append(job["id"])
        for job_id in ids:
            job = wait_job(c, server.headers, job_id, timeout=600)
            assert job["status"] == "succeeded", job
    sign_in(page, server.key)
    page.goto("/#/evaluations")
    page.wait_for_selector(f"a[href='#/evaluation/{ids[0]}']")
    assert page.locator("tbody tr").count() >= 2
    shot(page, "evaluations")
    page.locator(f"a[href='#/evaluation/{ids[0]}']").click()
    page.wait_for_selector(".metric[data-metric='groundedness']")
    report = page.frame_locator("iframe.report-frame")
    report.locator("img").first.wait_for()  # the report's plots are drawn
    shot(page, "evaluation-run")
    page.goto("/#/evaluations")
    for job_id in ids:
        page.get_by_label(f"Select run {job_id[:8]} for comparison").check()
    page.get_by_role("button", name="Compare the two selected runs").click()
    page.wait_for_selector("text=95% CI")
    metrics = page.locator("table").first.locator("tbody tr td:first-child").all_inner_texts()
    assert any(m.startswith("groundedness") for m in metrics), metrics
    shot(page, "evaluation-compare")
