"""bench.fallback: one stored run answers for both unverified-answer fallbacks."""
import pytest

from bench.fallback import analyse


def _item(em, f1, fallback=0.0, abstained=0.0, answer="", golds=("x",)):
    return {"item_id": "q", "error": None, "output": {"answer": answer, "golds": list(golds)},
            "scores": {"exact_match": em, "token_f1": f1, "fallback_extractive": fallback, "abstained": abstained}}


@pytest.mark.unit
def test_fallback_items_score_zero_when_abstained_instead():
    items = [_item(1.0, 1.0, answer="by email"), _item(0.0, 0.5, 1.0, answer="We contact you by email.", golds=["by email"]),
             _item(0.0, 0.2, 1.0, answer="Cookies are small files.", golds=["by email"]), _item(0.0, 0.0, 0.0, 1.0)]
    out = analyse({"id": "r", "suite": "squad"}, items)
    assert (out["items"], out["fallback"], out["fallback_share"], out["abstained_otherwise"]) == (4, 2, 0.5, 1)
    assert out["fallback_quote_holds_gold"] == "1/2"  # "by email" is inside the first quote only
    f1 = out["token_f1"]
    assert (f1["fallback_items_mean"], f1["verified_answers_mean"]) == (0.35, 1.0)
    assert (f1["run_extractive"], f1["run_if_abstain"]) == (0.425, 0.25)
    lo, hi = f1["difference_ci95"]
    assert 0.0 <= lo <= 0.175 <= hi
