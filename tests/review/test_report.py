"""The review of a generated contract: JSON shape, findings, and an HTML report that renders."""
import json
import subprocess
import sys

import pytest
from docgen import make_pdf

pytestmark = pytest.mark.slow

PAGES = [
    "MASTER SERVICES AGREEMENT\nThis Master Services Agreement is made as of March 3, 2020 by and between\n"
    "Acme Widgets, Inc., a Delaware corporation (\"Supplier\"), and Globex Holdings LLC (\"Customer\").",
    "1. Term. This Agreement continues for an initial term of two (2) years and renews automatically for\n"
    "successive three (3) year terms unless a party gives written notice of non-renewal at least one hundred\n"
    "twenty (120) days before the end of the term.\n"
    "2. Non-Compete. During the term Customer shall not compete with Supplier in any territory.",
    "3. Governing Law. This Agreement <script>alert('x')</script> is governed by the laws of the State of Nevada.",
]


def test_review_cli_json_and_html(tmp_path):
    (tmp_path / "msa.pdf").write_bytes(make_pdf(PAGES))
    out = tmp_path / "report.html"
    p = subprocess.run([sys.executable, "-m", "cli.main", "review", "msa.pdf", "--json", "--html", str(out)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert set(r) >= {"document", "clauses", "terms", "findings", "model", "timings"}
    assert r["document"]["pages"] == 3
    assert r["terms"]["governing_law"]["value"] == "Nevada" and r["terms"]["governing_law"]["page"] == 3
    assert r["terms"]["notice_period_to_terminate_renewal"]["value"] == 120
    rules = {f["rule"]: f for f in r["findings"]}
    assert "renewal-notice-max-90-days" in rules and rules["renewal-notice-max-90-days"]["severity"] == "medium"
    assert "auto-renewal-max-1-year" in rules  # three-year renewals
    assert "governing-law-preferred" in rules  # Nevada is not on the list
    for c in r["clauses"]:
        assert {"category", "text", "page", "char_start", "char_end", "confidence"} <= set(c)
        assert 0.0 <= c["confidence"] <= 1.0
    html = out.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "Governing law" in html and "Nevada" in html and "renewal" in html.lower()


def test_unreadable_contract_and_bad_playbook_are_clear_errors(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 garbage")
    p = subprocess.run([sys.executable, "-m", "cli.main", "review", "scan.pdf", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 1 and "corrupt" in json.loads(p.stdout)["error"]
    (tmp_path / "c.txt").write_text("This Agreement is governed by the laws of Texas.")
    (tmp_path / "pb.yaml").write_text("name: x\nrules:\n  - id: a\n    type: clause_required\n    clause: Nonsense\n    severity: high\n")
    p = subprocess.run([sys.executable, "-m", "cli.main", "review", "c.txt", "--playbook", "pb.yaml", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 1 and "unknown clause category 'Nonsense'" in json.loads(p.stdout)["error"]
