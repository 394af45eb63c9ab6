"""The cuad and contractnli suites: adapters on small generated files, the CUAD statistics
against the official metric and a hand computation, label parsing, and small end-to-end
runs through the real product (MiniLM embedder, SQLite, FAISS, the shipped clause model,
the tiny SmolLM2 generator)."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from evaluation.contract_datasets import load_contractnli, load_cuad
from review.cuad_metric import evaluate
from evaluation.suites import get_suite
from evaluation.suites.base import EvalContext, ItemResult, Suite
from evaluation.suites.contractnli import nli_messages, parse_label
from evaluation.suites.cuad import clause_stats, pooled_metrics

GOV = "This Agreement shall be governed by and construed in accordance with the laws of the State of New York."
CONTRACT = f"""DISTRIBUTION AGREEMENT

This Distribution Agreement (the "Agreement") is made and entered into as of March 3, 2015 by and between Acme Widgets, Inc., a Delaware corporation ("Acme"), and Beta Supply LLC ("Distributor").

1. Term. The term of this Agreement shall commence on the Effective Date and continue for a period of two (2) years.

2. Exclusivity. Acme hereby appoints Distributor as its exclusive distributor of the Products in the Territory.

3. Payment. Distributor shall pay all invoices within thirty (30) days of receipt.

4. Governing Law. {GOV}

5. Notices. All notices shall be in writing and delivered to the addresses set out above.
"""


def write_cuad(root: Path, with_pdf: bool = False) -> Path:
    (root / "txt").mkdir(parents=True)
    fields = ["Filename", "Parties", "Parties-Answer", "Agreement Date", "Agreement Date-Answer",
              "Governing Law", "Governing Law-Answer", "Exclusivity", "Exclusivity-Answer"]
    rows = [
        {"Filename": "ACME_2015-EX-10.1-Distribution Agreement.PDF",
         "Parties": repr(["Acme Widgets, Inc.", "Beta Supply LLC"]), "Parties-Answer": "Acme Widgets, Inc. (\"Acme\"); Beta Supply LLC",
         "Agreement Date": repr(["March 3, 2015"]), "Agreement Date-Answer": "3/3/2015",
         "Governing Law": repr([GOV]), "Governing Law-Answer": "New York",
         "Exclusivity": repr(["Acme hereby appoints Distributor <omitted> exclusive distributor of the Products in the Territory."]),
         "Exclusivity-Answer": "Yes"},
    ]
    (root / "txt" / "ACME_2015-EX-10.1-Distribution Agreement.txt").write_text(CONTRACT, encoding="utf-8")
    if with_pdf:
        from docgen import make_pdf

        (root / "pdf").mkdir()
        (root / "pdf" / "ACME_2015-EX-10.1-Distribution Agreement.pdf").write_bytes(make_pdf([CONTRACT]))
    with open(root / "master_clauses.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return root


NDA = """MUTUAL NON-DISCLOSURE AGREEMENT

1. The Receiving Party shall hold the Confidential Information in strict confidence and shall not disclose it to any third party.

2. Upon termination of this Agreement the Receiving Party shall return or destroy all Confidential Information.

3. This Agreement shall be governed by the laws of England and Wales.
"""


def write_nli(path: Path) -> Path:
    s1 = NDA.index("1. The Receiving")
    e1 = NDA.index("\n", s1)
    s2 = NDA.index("2. Upon")
    e2 = NDA.index("\n", s2)
    data = {
        "documents": [{
            "id": 7, "file_name": "nda.txt", "text": NDA, "spans": [[0, 31], [s1, e1], [s2, e2]],
            "annotation_sets": [{"annotations": {
                "nda-16": {"choice": "Entailment", "spans": [2]},
                "nda-2": {"choice": "NotMentioned", "spans": []},
                "nda-11": {"choice": "Contradiction", "spans": [1]},
            }}],
            "document_type": "search-pdf", "url": "",
        }],
        "labels": {
            "nda-16": {"short_description": "Return of CI", "hypothesis": "Receiving Party shall destroy or return some Confidential Information upon the termination of Agreement."},
            "nda-2": {"short_description": "Non-compete", "hypothesis": "Receiving Party shall not solicit Disclosing Party's employees."},
            "nda-11": {"short_description": "Sharing with third parties", "hypothesis": "Receiving Party may share some Confidential Information with some third parties."},
        },
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- adapters -------------------------------------------------------------------------------------
@pytest.mark.unit
def test_load_cuad_txt_and_pdf(tmp_path):
    root = write_cuad(tmp_path / "cuad", with_pdf=True)
    [c] = load_cuad(root)
    assert c.id == "ACME_2015-EX-10.1-Distribution Agreement.PDF"
    assert c.txt_path.name.endswith(".txt") and c.pdf_path.name.endswith(".pdf")  # extension case differs from the CSV
    assert c.gold["Exclusivity"] == ["Acme hereby appoints Distributor", "exclusive distributor of the Products in the Territory."]
    assert c.gold["Governing Law"] == [GOV]
    assert c.gold["Cap on Liability"] == []  # a category absent from the CSV: no gold
    assert c.answers["Governing Law"] == "New York" and c.answers["Agreement Date"] == "3/3/2015"
    items = get_suite("cuad").load(root)
    assert [it.id for it in items] == [c.id]
    assert items[0].data["answers"]["Governing Law-Answer"] == "New York"


@pytest.mark.unit
def test_load_contractnli(tmp_path):
    nli = load_contractnli(write_nli(tmp_path / "dev.json"))
    [doc] = nli.documents
    assert doc.id == "7" and doc.annotations["nda-16"].choice == "Entailment"
    assert [NDA[a:b] for a, b in doc.evidence("nda-16")] == [NDA[NDA.index("2. Upon"):NDA.index("\n", NDA.index("2. Upon"))]]
    assert list(nli.hypotheses) == ["nda-2", "nda-11", "nda-16"]  # numeric order
    items = get_suite("contractnli").load(tmp_path / "dev.json")
    assert [it.id for it in items] == ["7/nda-2", "7/nda-11", "7/nda-16"]
    assert items[2].data["evidence"][0].startswith("2. Upon termination")
    assert items[0].data["evidence"] == []


# -- CUAD statistics ----------------------------------------------------------------------------
@pytest.mark.unit
def test_cuad_stats_hand_computed():
    """Two contracts: A has one gold clause found at 0.9 and a false positive at 0.5; B has
    one gold clause missed and a false positive at 0.8. Kept predictions by threshold:
    t >= 0.9: none (R 0); 0.8 <= t < 0.9: tp 1 (P 1, R .5); 0.5 <= t < 0.8: tp 1 fp 1 (P .5);
    t < 0.5: tp 1 fp 2 (P 1/3). Monotone precision is 1 up to recall .5: AUPR = 0.5 * 1."""
    cat = "Governing Law"
    a = {cat: clause_stats([("governed by the laws of new york", 0.9), ("some random text here", 0.5)],
                           ["governed by the laws of New York"], cat)}
    b = {cat: clause_stats([("totally unrelated words", 0.8)], ["laws of delaware apply here"], cat)}
    assert a[cat] == {"g": [0.9], "f": [0.5]} and b[cat] == {"g": [-1.0], "f": [0.8]}
    m = pooled_metrics([a, b])
    assert m["aupr"] == pytest.approx(0.5)
    assert m["prec_at_80_recall"] == 0.0 and m["n_gold"] == 2
    assert m["per_category"][cat]["aupr"] == pytest.approx(0.5)
    # the same through the suite's aggregate over stored item results
    results = [ItemResult("a", {}, {"stats": a, "review_seconds": 1.0, "in_sample": True}),
               ItemResult("b", {}, {"stats": b, "review_seconds": 3.0, "in_sample": True})]
    agg = get_suite("cuad").aggregate(results)
    assert agg.metrics["aupr"] == pytest.approx(0.5) and agg.metrics["in_sample"] is True
    assert agg.metrics["seconds_p50"] == pytest.approx(2.0)
    assert {c.kind for c in agg.charts} == {"line", "bar", "hist"}


@pytest.mark.unit
def test_cuad_stats_equal_official_metric():
    """Random predictions over several contracts and categories (duplicates, Parties
    containment, empty gold): pooled and per-category numbers equal cuad_metric.evaluate."""
    rng = random.Random(3)
    words = "the party shall pay all fees due under this agreement within thirty days of notice".split()

    def phrase(n):
        return " ".join(rng.choice(words) for _ in range(n))

    preds, gold, per_contract = {}, {}, []
    for ci in range(6):
        stats = {}
        for cat in ("Parties", "Governing Law", "Exclusivity"):
            g = [phrase(rng.randint(3, 8)) for _ in range(rng.randint(0, 3))]
            p = [(rng.choice(g) if g and rng.random() < 0.4 else phrase(rng.randint(2, 9)), round(rng.random(), 3))
                 for _ in range(rng.randint(0, 6))]
            if p:
                p.append((p[0][0], 0.05))  # a duplicate text keeps its best confidence
            gold[(ci, cat)], preds[(ci, cat)] = g, p
            stats[cat] = clause_stats(p, g, cat)
        per_contract.append(stats)
    official = evaluate(preds, gold)
    ours = pooled_metrics(per_contract)
    for k in ("aupr", "prec_at_80_recall", "prec_at_90_recall", "n_gold"):
        assert ours[k] == pytest.approx(official[k])
    for cat, m in official["per_category"].items():
        assert ours["per_category"][cat]["aupr"] == pytest.approx(m["aupr"])


@pytest.mark.unit
def test_key_term_scoring():
    from evaluation.cuad_terms import score
    from review.terms import extract_terms

    terms = extract_terms(CONTRACT)
    row = {"Governing Law-Answer": "New York", "Agreement Date-Answer": "3/3/2015", "Parties-Answer": "Acme Widgets, Inc.; Beta Supply LLC"}
    out = score(row, terms)
    assert out["governing_law"] is True and out["agreement_date"] is True
    assert score({"Governing Law-Answer": "Delaware"}, terms)["governing_law"] is False
    assert score({}, {"governing_law": None})["governing_law"] is True  # not stated, nothing predicted


@pytest.mark.unit
@pytest.mark.parametrize("term, gold, answer, abstained, ok", [
    ("governing_law", "New York", "The agreement is governed by the law of New York [1].", False, True),
    ("governing_law", "Delaware", "The agreement is governed by the law of New York [1].", False, False),
    ("governing_law", "", "The contract does not state its governing law.", True, True),  # unstated: abstain
    ("governing_law", "", "New York", False, False),
    ("agreement_date", "3/3/2015", "It was signed on March 3, 2015 [1].", False, True),
    ("agreement_date", "3/3/2015", "The documents provided do not contain the answer.", True, False),
    ("agreement_date", "[]/[]/[]", "", True, True),  # a date left blank in the template counts as unstated
    ("expiration_date", "perpetual", "It continues perpetually.", False, True),
    ("expiration_date", "perpetual", "December 31, 2024", False, False),
    ("renewal_term", "1 year", "Each renewal term is one (1) year (365 days) [1].", False, True),
    ("notice_period_to_terminate_renewal", "90 days", "sixty (60) days", False, False),
    ("parties", "Acme Widgets, Inc. (\"Acme\"); Beta Supply LLC", "The parties are Acme Widgets and Beta Supply [1].", False, True),
    ("parties", "Acme Widgets, Inc.; Beta Supply LLC", "Acme Widgets", False, False),  # every gold party must be named
])
def test_key_term_answer_scoring(term, gold, answer, abstained, ok):
    from evaluation.cuad_terms import score_answer

    assert score_answer(term, gold, answer, abstained) is ok


@pytest.mark.unit
@pytest.mark.parametrize("gold, pred, ok", [
    ("3/3/2015", "2015-03-03", True), ("3/3/2015", "2015-03-04", False), ("3/3/2015", None, False),
    ("[]/[]/2016", "2016-05-01", True), ("[]/[]/2016", "2016", True), ("11/[]/2006", "2006", False),
    ("07/31/2000; 07/[]/2000", "2000-07-31", True), ("07/31/2000; 07/[]/2000", "2000-07-15", True),
    ("09/14/200[]", "2005-09-14", True), ("09/14/200[]", "2015-09-14", False),
    ("[]/[]/[]", None, True), ("[]/[]/20[]", None, True), ("[]/[]/20[]", "2020-01-01", False),
])
def test_gold_date_forms(gold, pred, ok):
    from evaluation.cuad_terms import date_ok
    from review.terms import Term

    assert date_ok(gold, Term(pred, "", 0, 0) if pred else None) is ok


# -- ContractNLI label parsing ------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize("reply,label", [
    ("Entailment", "Entailment"), (" entailment.", "Entailment"), ("Contradiction", "Contradiction"),
    ("NotMentioned", "NotMentioned"), ("Not mentioned", "NotMentioned"), ("not_mentioned", "NotMentioned"),
    ("**Contradiction** - the NDA says otherwise", "Contradiction"), ("Yes", "Entailment"), ("No.", "Contradiction"),
    ("The statement is not entailed", "Contradiction"), ("Answer: Entailment (the excerpt says so)", "Entailment"),
    ("", None), ("I am a language model", None),
])
def test_parse_label(reply, label):
    assert parse_label(reply) == label


@pytest.mark.unit
def test_nli_prompt_numbers_excerpts():
    msgs = nli_messages("Receiving Party shall return CI.", ["first  chunk\ntext", "second"])
    assert "[1] first chunk text" in msgs[1].content and "[2] second" in msgs[1].content
    assert "Statement: Receiving Party shall return CI." in msgs[1].content


# -- end to end -----------------------------------------------------------------------------------
def run_suite(suite: Suite, rt, data: Path, options: dict[str, str]):
    items = suite.load(data)
    ctx = EvalContext(rt, collection=f"{suite.name}-test", tenant="eval", data=data, options=options)
    suite.prepare(ctx, items)
    results = [suite.run_item(ctx, it) for it in items]
    return results, suite.aggregate(results)


@pytest.mark.slow
def test_cuad_end_to_end_shipped_model(settings, tmp_path):
    from workers.runtime import Runtime

    rt = Runtime.create(settings)
    data = write_cuad(tmp_path / "cuad")
    results, agg = run_suite(get_suite("cuad"), rt, data, {"folds": "0"})
    [r] = results
    assert r.error is None, r.error
    assert r.output["in_sample"] is True and r.output["model"] == "shipped"
    assert r.scores["term_governing_law"] == 1.0 and r.scores["term_agreement_date"] == 1.0
    # the governing-law sentence is found (by the classifier or the key-term rule)
    assert max(r.output["stats"]["Governing Law"]["g"]) >= 0.2
    assert agg.metrics["n_gold"] == 6 and agg.metrics["in_sample"] is True  # Parties 2, date 1, law 1, exclusivity 2
    assert agg.metrics["term_governing_law"] == 1.0
    # the key-term questions, answered as `ask --document-id` answers them
    assert r.scores["answer_governing_law"] == 1.0 and r.scores["answer_agreement_date"] == 1.0
    assert r.scores["answer_parties"] == 1.0
    counts = r.output["key_term_answers"]["counts"]
    assert counts["answers"] == 6 and counts["uncited"] == 0 and counts["uncited_claims"] == 0
    assert counts["citations"] >= 3 and counts["citations_ok"] == counts["citations"]
    assert agg.metrics["answers"] == 6 and agg.metrics["answers_citation_precision"] == 1.0
    assert agg.metrics["answers_accuracy"] == pytest.approx(r.scores["answers_accuracy"])
    assert agg.tables["Key-term answers"]["governing_law"] == {"accuracy": 1.0, "n": 1}
    # the product ingested and stored the contract; a second prepare is a no-op
    ctx = EvalContext(rt, "cuad-test", "eval", data, {"folds": "0"})
    get_suite("cuad").prepare(ctx, get_suite("cuad").load(data))
    assert next(iter(ctx.state["docs"].values())).status == "unchanged"
    rt.store.engine.dispose()


def governing_law_model():
    """The shipped model's class with hand-set weights: only a segment whose one known word
    is "governed" scores (probability ~1) and only for Governing Law; every other segment
    and category stays below the suite's lowest confidence (0.001). The other words only
    dilute a segment's normalised weight, so the governing-law sentence alone beats the
    passages around it."""
    from clausegen import keyword_clause_model

    return keyword_clause_model({"governed": "Governing Law"}, weight=60.0, bias=-30.0,
                                dilute=("governing", "distributor", "invoices", "notices"))


@pytest.mark.slow
def test_cuad_end_to_end_known_score(settings, tmp_path, monkeypatch):
    """Predictions known in advance: the classifier finds the governing-law sentence at ~1.0;
    the key-term rules add the agreement date, the parties and the expiration date (the
    term sentence) at 0.9. Gold: Parties 2, Agreement Date 1, Governing Law 1, Exclusivity 2
    (n = 6); Expiration Date has none, so that prediction is the one false positive.
    t >= 0.9: tp 1, fp 0 (R 1/6, P 1); t < 0.9: tp 4, fp 1 (R 4/6, P 0.8).
    AUPR = 1/6 * (1 + 1)/2 + (4/6 - 1/6) * (1 + 0.8)/2 = 1/6 + 0.45; recall never reaches 80%."""
    import review.clauses
    from workers.runtime import Runtime

    monkeypatch.setattr(review.clauses, "_MODEL", governing_law_model())  # what default_classifier() serves
    rt = Runtime.create(settings)
    data = write_cuad(tmp_path / "cuad")
    [r], agg = run_suite(get_suite("cuad"), rt, data, {"folds": "0"})
    assert r.error is None, r.error
    stats = r.output["stats"]
    assert stats["Governing Law"]["g"] == [pytest.approx(1.0)] and stats["Governing Law"]["f"] == []
    assert stats["Parties"] == {"g": [0.9, 0.9], "f": []} and stats["Agreement Date"] == {"g": [0.9], "f": []}
    assert stats["Exclusivity"] == {"g": [-1.0, -1.0], "f": []} and stats["Expiration Date"] == {"g": [], "f": [0.9]}
    assert agg.metrics["aupr"] == pytest.approx(1 / 6 + 0.45)
    assert agg.metrics["prec_at_80_recall"] == 0.0 and agg.metrics["n_gold"] == 6
    per_cat = agg.tables["Per-category clause metrics"]
    assert {c: v["aupr"] for c, v in per_cat.items()} == pytest.approx(
        {"Governing Law": 1.0, "Parties": 1.0, "Agreement Date": 1.0, "Exclusivity": 0.0})
    assert r.scores["recall@shown"] == pytest.approx(4 / 6) and r.scores["precision@shown"] == pytest.approx(0.8)
    rt.store.engine.dispose()


@pytest.mark.slow
def test_contractnli_end_to_end_tiny_llm(llm_settings, tmp_path):
    from workers.runtime import Runtime

    rt = Runtime.create(llm_settings)
    data = write_nli(tmp_path / "dev.json")
    results, agg = run_suite(get_suite("contractnli"), rt, data, {"k": "2"})
    assert all(r.error is None for r in results), [r.error for r in results]
    for r in results:  # the label is the one the model's reply names, scored against the gold
        assert r.output["predicted"] == parse_label(r.output["reply"]), r.output["reply"]
        assert r.scores["correct"] == float(r.output["predicted"] == r.output["gold"])
    assert all(len(r.output["chunks"]) <= 2 for r in results)
    # a 3-paragraph NDA fits in a couple of chunks: the gold evidence is always retrieved
    assert agg.metrics["evidence_hit"] == 1.0
    gold = [r.output["gold"] for r in results]
    assert gold == ["NotMentioned", "Contradiction", "Entailment"]  # nda-2, nda-11, nda-16
    assert agg.metrics["accuracy"] == pytest.approx(sum(r.output["predicted"] == g for r, g in zip(results, gold)) / 3)
    assert agg.metrics["baseline_accuracy"] == pytest.approx(sum(r.output["baseline"] == g for r, g in zip(results, gold)) / 3)
    assert any(title.startswith("Confusion (llm)") for title in agg.tables)
    rt.store.engine.dispose()


@pytest.mark.unit
def test_contractnli_aggregate_hand_computed():
    """Four pairs. gold E C N E; LLM E N N (unparsed); baseline E E N N.
    LLM: accuracy 2/4; Entailment P 1/1, R 1/2 -> F1 2/3; Contradiction never predicted -> 0;
    one reply of four unparsed. Baseline: accuracy 2/4; Entailment P 1/2, R 1/2 -> F1 1/2."""
    rows = [("E", "Entailment", "Entailment", "Entailment"), ("C", "Contradiction", "NotMentioned", "Entailment"),
            ("N", "NotMentioned", "NotMentioned", "NotMentioned"), ("E2", "Entailment", None, "NotMentioned")]
    results = [ItemResult(f"7/{i}", {"evidence_hit": hit}, {"gold": g, "predicted": p, "baseline": b, "hypothesis_key": f"nda-{k}",
                                                          "llm_seconds": 1.0})
               for k, ((i, g, p, b), hit) in enumerate(zip(rows, (1.0, 0.0, None, 1.0)), 1)]
    m = get_suite("contractnli").aggregate(results).metrics
    assert m["accuracy"] == 0.5 and m["baseline_accuracy"] == 0.5 and m["unparsed"] == 0.25
    assert m["f1_entailment"] == pytest.approx(2 / 3) and m["f1_contradiction"] == 0.0
    assert m["baseline_f1_entailment"] == pytest.approx(0.5) and m["baseline_f1_contradiction"] == 0.0
    assert m["evidence_hit"] == pytest.approx(2 / 3)  # the pair without gold evidence does not count
    agg = get_suite("contractnli").aggregate(results)
    confusion = agg.tables["Confusion (llm): rows gold, columns predicted"]
    assert confusion["Entailment"] == {"Entailment": 1, "Contradiction": 0, "NotMentioned": 0, "Unparsed": 1}
    assert confusion["Contradiction"]["NotMentioned"] == 1


@pytest.mark.unit
def test_cuad_fold_models_carry_the_rescorer_as_the_shipped_model_does(tmp_path):
    """The suite scores each contract with a model that never saw it, trained by the
    shipped recipe: the rescorer too when it is kept, and it survives the fold cache."""
    import numpy as np
    from docgen import make_contract_text, write_cuad_contracts

    from review.clauses import detect_clauses
    from evaluation.suites.cuad import fold_models

    data = write_cuad_contracts(tmp_path / "cuad", 12)
    fold_of, models, info = fold_models(data, 3, cache_dir=tmp_path / "cache", neg_rate=1.0, min_df=2, rescore=True)
    assert sorted(set(fold_of.values())) == [0, 1, 2] and not info["cached"]
    assert all(m.rescorer is not None and "rescorer" in m.config["name"] for m in models)
    text, _ = make_contract_text(1000)
    fresh = [[(c.category, c.char_start, round(c.confidence, 4)) for c in detect_clauses(text, classifier=m, threshold=0.001)]
             for m in models]
    _, cached, info = fold_models(data, 3, cache_dir=tmp_path / "cache", neg_rate=1.0, min_df=2, rescore=True)
    assert info["cached"] and all(m.rescorer is not None for m in cached)
    again = [[(c.category, c.char_start, round(c.confidence, 4)) for c in detect_clauses(text, classifier=m, threshold=0.001)]
             for m in cached]
    assert again == fresh and any(fresh)
    # by default (auto) the rescorer is not kept on twelve contracts, as review train decides
    _, plain, _ = fold_models(data, 3, neg_rate=1.0, min_df=2)
    assert all(m.rescorer is None for m in plain) and np.all([m.config["name"].endswith("logreg fold " + f"{k + 1}/3")
                                                              for k, m in enumerate(plain)])
