"""The in-house cross-encoder's training data and training (evaluation/reranker_training.py)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from evaluation.reranker_training import (Group, TrainConfig, acord_groups, cuad_groups, emanual_groups,
                                          train_cross_encoder)


def write_acord(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus = {f"c{i}": f"Clause number {i} says something about topic {i % 4}." for i in range(12)}
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in corpus.items()))
    queries = [{"_id": "q1", "text": "cap on liability"}, {"_id": "q2", "text": "governing law"},
               {"_id": "q3", "text": "never judged"}]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    train = "query-id\tcorpus-id\tscore\n" + "".join(f"q1\tc{i}\t{g}\n" for i, g in
                                                    [(0, 4), (1, 2), (2, 0), (3, 0), (4, 0), (5, 1)])
    valid = "query-id\tcorpus-id\tscore\n" + "".join(f"q2\tc{i}\t{g}\n" for i, g in [(6, 3), (7, 0), (8, 0)])
    (root / "qrels" / "train.tsv").write_text(train)
    (root / "qrels" / "valid.tsv").write_text(valid)
    return root


CLAUSES = {
    "Governing Law": "This Agreement shall be governed by the laws of the State of New York.",
    "Exclusivity": "Acme appoints the Distributor as its exclusive distributor of the Products in the Territory.",
    "Non-Compete": "The Distributor shall not sell any product that competes with the Products during the Term.",
}


def write_cuad(root: Path) -> Path:
    import csv

    (root / "txt").mkdir(parents=True)
    for i in range(2):
        name = f"ACME_{i}-EX-10.1-Distribution Agreement"
        (root / "txt" / f"{name}.txt").write_text("DISTRIBUTION AGREEMENT\n\n" + "\n\n".join(CLAUSES.values()) + "\n")
    with open(root / "master_clauses.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["Filename", *[f for c in CLAUSES for f in (c, f"{c}-Answer")]])
        w.writeheader()
        for i in range(2):
            row = {"Filename": f"ACME_{i}-EX-10.1-Distribution Agreement.PDF"}
            for cat, text in CLAUSES.items():
                row[cat], row[f"{cat}-Answer"] = repr([text]), "Yes"
            w.writerow(row)
    return root


@pytest.mark.unit
def test_acord_groups_put_a_more_relevant_clause_above_less_relevant_ones_of_its_pool(tmp_path):
    root = write_acord(tmp_path / "acord")
    grade = {"c0": 4, "c1": 2, "c2": 0, "c3": 0, "c4": 0, "c5": 1, "c6": 3, "c7": 0, "c8": 0}
    text_to_id = {f"Clause number {i} says something about topic {i % 4}.": f"c{i}" for i in range(12)}
    groups = acord_groups(root, ["q1", "q2"], random.Random(0), per_query=30, negatives=3)
    assert {g.query for g in groups} == {"cap on liability", "governing law"}
    for g in groups:
        better = grade[text_to_id[g.better]]
        worse = [text_to_id[w] for w in g.worse]
        assert better >= 1 and worse and all(grade[w] < better for w in worse) and len(worse) <= 3
        assert len(set(worse)) == len(worse)  # no passage twice in a group
        assert all(w in ({"c0", "c1", "c2", "c3", "c4", "c5"} if g.query == "cap on liability" else {"c6", "c7", "c8"})
                   for w in worse)  # negatives come from the query's own judged pool
    # held-out queries stay out, and the draw is seeded
    assert {g.query for g in acord_groups(root, ["q2"], random.Random(0), 5, 3)} == {"governing law"}
    assert acord_groups(root, ["q1"], random.Random(7), 5, 3) == acord_groups(root, ["q1"], random.Random(7), 5, 3)


@pytest.mark.unit
def test_cuad_groups_contrast_a_category_with_other_categories_of_the_same_contract(tmp_path):
    root = write_cuad(tmp_path / "cuad")
    groups = cuad_groups(root, random.Random(0), per_category=3, negatives=5)
    assert groups and {g.source for g in groups} == {"cuad"}
    for g in groups:
        assert g.query in {"Governing Law", "Exclusivity", "Non-Compete"}
        assert g.better not in g.worse
    law = [g for g in groups if g.query == "Governing Law"]
    assert law and all("governed by" in g.better.lower() for g in law)
    assert not any(g.query == "Governing Law" for g in cuad_groups(root, random.Random(0), 3, 5, ["Governing Law"]))


def write_emanual(root: Path) -> Path:
    """A two-chapter manual with one question per section (strict JSON, which the loose
    reader also takes)."""
    titles = {"section_0": ("Picture", "Tune the picture."), "section_1": ("Adjusting brightness", "Press the light key."),
              "section_2": ("Changing the colour tone", "Pick warm or cool."), "section_3": ("Sound", "Tune the sound."),
              "section_4": ("Adjusting the volume", "Press VOL up or down."),
              "section_5": ("Muting the TV", "Press MUTE once.")}
    corpus = {sid: {"id": sid, "title": t, "text": [body]} for sid, (t, body) in titles.items()}
    root.mkdir(parents=True)
    (root / "smart_tv_remote_manual_corpus.json").write_text(json.dumps(corpus))
    questions = [{"Section Hierarchy": f"{chapter}>{titles[sid][0]}", "Question": f"How do I do {titles[sid][0]}?",
                  "Answer": titles[sid][1]}
                 for chapter, sids in (("Picture", ["section_1", "section_2"]), ("Sound", ["section_4", "section_5"]))
                 for sid in sids]
    (root / "smart_tv_remote_qa" / "Normal Q&A").mkdir(parents=True)
    (root / "smart_tv_remote_qa" / "Normal Q&A" / "q.json").write_text(json.dumps({"All_Questions": questions}))
    return root


@pytest.mark.unit
def test_emanual_groups_rank_the_gold_section_first_and_hold_out_by_section(tmp_path):
    root = write_emanual(tmp_path / "emanual")
    groups = emanual_groups(root, random.Random(0), per_question=2, negatives=3)
    assert len(groups) == 8 and {g.source for g in groups} == {"emanual"}
    for g in groups:
        topic = g.query.removeprefix("How do I do ").removesuffix("?")
        assert topic in g.better.split("\n")[0]  # the gold section, headed by its title path
        assert g.better not in g.worse and len(g.worse) == 3
        # a hard negative from the same chapter comes first
        chapter = [p.split("\n")[0].split(" > ")[0] for p in (g.better, g.worse[0])]
        assert chapter[0] == chapter[1]
    held = emanual_groups(root, random.Random(0), 1, 3, exclude_sections=["section_4"])
    assert len(held) == 3 and not any("volume" in g.query for g in held)  # its question is out
    assert not any("Adjusting the volume" in p for g in held for p in (g.better, *g.worse))  # and its text


@pytest.mark.slow
def test_training_teaches_the_shipped_minilm_to_rank_and_saves_a_cross_encoder(tmp_path):
    """A few steps on an easy task (is the passage about payment?) move a never-seen
    pair the right way, and the folder works behind DOCINTEL_RERANKER=cross-encoder."""
    from core.types import SearchHit
    from ingestion.embedding import packaged_model_dir
    from retrieval.rerank import CrossEncoderReranker

    pay = ["The customer pays each invoice within thirty days.", "Fees are payable monthly in advance.",
           "All amounts due are paid in US dollars by wire transfer.", "Late payments bear interest at 1% per month."]
    other = ["This agreement is governed by the laws of Delaware.", "Either party may terminate on notice.",
             "The supplier warrants the goods are free of defects.", "Notices must be given in writing.",
             "Neither party may assign this agreement.", "The receiving party keeps information confidential."]
    rng = random.Random(0)
    groups = [Group("payment terms", rng.choice(pay), tuple(rng.sample(other, 3)), "test") for _ in range(24)]
    out = tmp_path / "ce"
    summary = train_cross_encoder(groups, str(packaged_model_dir()), out, TrainConfig(batch_groups=4, negatives=3),
                                  progress=False)
    assert summary["steps"] == 6 and json.loads((out / "training.json").read_text())["groups"] == 24
    assert summary["loss_last_50"] < 1.3  # ln 4 = 1.39 is chance for one better among four
    # Reproducible: the same groups, seed and config give the same weights, and their
    # export the same bytes (what MODEL_CARD.md's rebuild command relies on).
    again = tmp_path / "ce-again"
    train_cross_encoder(groups, str(packaged_model_dir()), again, TrainConfig(batch_groups=4, negatives=3),
                        progress=False)
    assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    from evaluation.reranker_training import export_onnx

    assert export_onnx(out, tmp_path / "x1")["sha256"] == export_onnx(again, tmp_path / "x2")["sha256"]

    reranker = CrossEncoderReranker(str(out), weight=1.0)
    hits = [SearchHit(document_id=i, document_name=f"d{i}", chunk_id=i, page_start=1, page_end=1, char_start=0,
                      char_end=len(t), score=1.0, text=t)
            for i, t in enumerate(["The licensee shall remit royalties quarterly by cheque.",  # unseen, about payment
                                   "The courts of London have exclusive jurisdiction."])]  # unseen, not
    assert [h.chunk_id for h in reranker.rerank("payment terms", hits, 2)] == [0, 1]


@pytest.mark.unit
def test_build_groups_keeps_held_out_queries_out_and_says_what_is_wrong(tmp_path):
    from evaluation.reranker_training import build_groups

    acord, cuad = write_acord(tmp_path / "acord"), write_cuad(tmp_path / "cuad")
    config = TrainConfig(acord_groups_per_query=5, cuad_groups_per_category=2)
    groups = build_groups(acord, cuad, config, exclude_queries=["q2"])
    assert {g.source for g in groups} == {"acord", "cuad"}
    assert {g.query for g in groups if g.source == "acord"} == {"cap on liability"}
    assert build_groups(acord, cuad, config, ["q2"]) == groups  # seeded
    with pytest.raises(ValueError, match="not judged"):
        build_groups(acord, None, config, ["no such query"])
    with pytest.raises(ValueError, match="no training data"):
        build_groups(None, None, config)
    manual = build_groups(None, None, config, emanual_dir=write_emanual(tmp_path / "emanual"),
                          exclude_sections=["section_1"])
    assert {g.source for g in manual} == {"emanual"} and len(manual) == 3


@pytest.mark.unit
def test_cli_train_refuses_bad_input_with_a_message(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    acord = write_acord(tmp_path / "acord")
    result = CliRunner().invoke(app, ["retrieval", "train", "--out", str(tmp_path / "m"), "--acord", str(acord),
                                      "--hold-out", "nope", "--json"])
    assert result.exit_code == 1 and "held-out queries are not judged" in result.output
    assert not (tmp_path / "m").exists()
    result = CliRunner().invoke(app, ["retrieval", "train", "--out", str(tmp_path / "m"), "--acord", str(acord),
                                      "--model", "bi-encoders", "--json"])
    assert result.exit_code == 1 and "unknown --model 'bi-encoders'" in result.output and "bi-encoder" in result.output
    assert not (tmp_path / "m").exists()
    (tmp_path / "not-a-model").mkdir()
    result = CliRunner().invoke(app, ["retrieval", "export", str(tmp_path / "not-a-model"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "not a trained model folder" in result.output
