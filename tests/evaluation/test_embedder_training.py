"""Fine-tuning the MiniLM bi-encoder (evaluation/embedder_training.py)."""
from __future__ import annotations

import json
import math
import random

import pytest

from evaluation.reranker_training import Group


@pytest.mark.unit
def test_passages_of_another_group_asking_the_same_query_are_not_counted_as_negatives():
    """Two groups ask "cap on liability": each one's better passage is likely relevant to the
    other, so it must not push the other query away. A third group's passages still do."""
    import torch

    from evaluation.embedder_training import batch_loss

    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=1)
    # passages 0-1 belong to group 0, 2-3 to group 1, 4-5 to group 2; the better ones are 0, 2, 4.
    p = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    owners, better = [0, 0, 1, 1, 2, 2], [0, 2, 4]
    masked = batch_loss(q, p, owners, better, [[0, 1], [0, 1], [2]], scale=20.0)
    unmasked = batch_loss(q, p, owners, better, [[0], [1], [2]], scale=20.0)
    # Unmasked, groups 0 and 1 each see the other's identical better passage: a tie that costs ln 2.
    assert masked.item() < 0.01
    assert math.isclose(unmasked.item(), 2 * math.log(2) / 3, abs_tol=0.01)


@pytest.mark.slow
def test_fine_tuning_moves_an_unseen_query_towards_its_passage_and_saves_a_folder_docintel_embeds_with(tmp_path):
    """A few steps on an easy task (payment questions against payment clauses) bring a
    never-seen payment clause closer to a payment question, the same seed gives the same
    weights, and the folder works as DOCINTEL_EMBEDDING_MODEL_PATH."""
    import numpy as np

    from core.settings import Settings
    from evaluation.embedder_training import BiEncoderConfig, train_bi_encoder
    from ingestion.embedding import get_embedder, packaged_model_dir

    pay = ["The customer pays each invoice within thirty days.", "Fees are payable monthly in advance.",
           "All amounts due are paid in US dollars by wire transfer.", "Late payments bear interest at 1% per month."]
    other = ["This agreement is governed by the laws of Delaware.", "Either party may terminate on notice.",
             "The supplier warrants the goods are free of defects.", "Notices must be given in writing.",
             "Neither party may assign this agreement.", "The receiving party keeps information confidential."]
    asks = ["when must I pay", "how are fees paid", "what currency are payments in"]
    rng = random.Random(0)
    groups = [Group(rng.choice(asks), rng.choice(pay), tuple(rng.sample(other, 3)), "test") for _ in range(32)]
    config = BiEncoderConfig(batch_groups=4, lr=1e-4, epochs=2)
    out = tmp_path / "bi"
    summary = train_bi_encoder(groups, str(packaged_model_dir()), out, config, progress=False)
    assert summary["steps"] == 16 and json.loads((out / "training.json").read_text())["groups"] == 32
    again = tmp_path / "bi-again"
    train_bi_encoder(groups, str(packaged_model_dir()), again, config, progress=False)
    assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()

    query = "how do I settle the bill"  # unseen words on both sides
    unseen_pay, unseen_other = "The licensee shall remit royalties quarterly by cheque.", "The courts of London have jurisdiction."

    def margin(model_path: str) -> float:
        embedder = get_embedder(Settings(embedding_model_path=model_path))
        q = embedder.embed_query(query)
        docs = embedder.embed_documents([unseen_pay, unseen_other])
        assert docs.shape == (2, 384) and np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
        return float(docs[0] @ q - docs[1] @ q)

    assert margin(str(out)) > margin(str(packaged_model_dir())) + 0.02  # 0.176 -> 0.217 here

    # Shipped as float16 deltas to the installed MiniLM, it assembles back into the same model.
    from evaluation.embedder_training import export_embedder
    from ingestion.embedding import assemble_tuned_model

    manifest = export_embedder(out, tmp_path / "shipped")
    assert manifest["parameters"] < 11_000_000 and manifest["bytes"] < 30e6  # the word table is not shipped
    assembled = assemble_tuned_model(Settings(models_dir=tmp_path / "models"), shipped=tmp_path / "shipped")
    texts = [query, unseen_pay, unseen_other]
    a = get_embedder(Settings(embedding_model_path=str(assembled))).embed_documents(texts)
    b = get_embedder(Settings(embedding_model_path=str(out))).embed_documents(texts)
    assert np.min(np.sum(a * b, axis=1)) > 0.99999
