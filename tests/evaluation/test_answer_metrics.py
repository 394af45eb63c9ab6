"""Answer metrics against hand-computed cases."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from evaluation.answer_metrics import (
    answer_text,
    best_of,
    citation_ok,
    citation_precision,
    exact_match,
    groundedness,
    normalize_answer,
    rouge_l,
    token_f1,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("The  Cat's, hat!", "cats hat"),  # punctuation goes before articles: "the" then drops
        ("An apple a day", "apple day"),
        ("  the  ", ""),
        ("theme park", "theme park"),  # "the" only as a word
        ("U.S.A.", "usa"),
    ],
)
def test_squad_normalisation(raw, expected):
    assert normalize_answer(raw) == expected


def test_exact_match_after_normalisation():
    assert exact_match("The answer.", "answer") == 1.0
    assert exact_match("an answer", "answers") == 0.0
    assert exact_match("", "") == 1.0


def test_token_f1_counts_repeated_tokens_with_multiplicity():
    # pred [cat, cat, sat] vs gold [cat, sat, sat]: overlap cat 1 + sat 1 = 2 -> P = R = 2/3
    assert token_f1("the cat cat sat", "cat sat sat") == pytest.approx(2 / 3)
    # pred [b, b, b] ("a" is an article) vs gold [b, b]: overlap 2 -> P 2/3, R 1 -> F1 0.8
    assert token_f1("a b b b", "b b") == pytest.approx(0.8)
    assert token_f1("collected data", "data collected") == 1.0  # order does not matter
    assert token_f1("nickname", "used") == 0.0


def test_token_f1_empty_answers():
    assert token_f1("", "") == 1.0
    assert token_f1("the", "a") == 1.0  # both normalise to nothing
    assert token_f1("", "something") == 0.0
    assert token_f1("something", "") == 0.0


def test_best_of_takes_the_best_gold():
    assert best_of(exact_match, "Paris", ["London", "paris."]) == 1.0
    assert best_of(token_f1, "red car", ["blue car", "red car wash"]) == pytest.approx(0.8)
    assert best_of(token_f1, "x", []) is None


def test_rouge_l_f1_hand_computed():
    # LCS "the cat on the mat" = 5 of 6 tokens on both sides
    assert rouge_l("the cat sat on the mat", "the cat was on the mat") == pytest.approx(5 / 6)
    # P = 2/2, R = 2/4 -> F1 = 2/3
    assert rouge_l("press power", "press the power button") == pytest.approx(2 / 3)
    assert rouge_l("running dogs", "run dog") == 1.0  # Porter stemming
    assert rouge_l("b a", "a b") == pytest.approx(0.5)  # a subsequence, not a bag of words


def test_rouge_l_empty():
    assert rouge_l("", "gold answer") == 0.0
    assert rouge_l("an answer", "") == 0.0


@dataclass
class _Answer:  # the two fields answer_text reads from generation.answer.Answer
    answer: str
    abstained: bool = False


def test_answer_text_strips_markers_and_abstentions():
    assert answer_text(_Answer("Press Home [1]. Then Settings [2, 3].")) == "Press Home . Then Settings ."
    assert answer_text(_Answer("I cannot find it.", abstained=True)) == ""


def test_citation_ok_needs_the_quote_on_the_cited_page():
    text = "Page one text.Page two words."
    page1, page2 = (0, 14), (14, 29)
    assert citation_ok(text, page2, 14, 23, "Page two ")
    assert not citation_ok(text, page1, 14, 23, "Page two ")  # right text, wrong page
    assert not citation_ok(text, page1, 10, 18, "ext.Page")  # straddles the page end
    assert not citation_ok(text, page2, 14, 23, "Page two!")  # quote is not the text there
    assert not citation_ok(text, page2, 14, 14, "")  # an empty quote proves nothing


def test_citation_precision():
    assert citation_precision([True, False, True, True]) == 0.75
    assert citation_precision([]) is None


def test_groundedness_counts_sentences_with_a_supported_marker():
    text = "Press the power button [1]. The remote needs batteries [2]. Enjoy watching. [3]"
    quotes = {1: "Press the power button to start the TV.", 2: "The screen is blue."}
    # sentence 1 is supported by [1]; sentence 2 cites [2] which does not support it;
    # sentence 3 has no marker; the bare "[3]" has no content words and is not counted
    assert groundedness(text, quotes, 0.5) == pytest.approx(1 / 3)
    assert groundedness("Press the power button [3].", quotes, 0.5) == 0.0  # [3] is not a checked citation
    assert groundedness("", quotes, 0.5) is None


def test_a_quoted_excerpt_is_one_claim_under_its_marker():
    from generation.citations import quoted_excerpt

    source = "Open Settings. Select Sound Output. Choose the soundbar."
    text = "Choose the soundbar under Sound Output [1].\n\n" + quoted_excerpt(source, 1)
    assert groundedness(text, {1: source}, 0.5) == 1.0
    # the same sentences without the quotes: only the one carrying the marker counts as grounded
    assert groundedness("Choose the soundbar under Sound Output [1]. " + source, {1: source}, 0.5) == pytest.approx(1 / 4)
    # a quote from elsewhere is not grounded by a source it does not match
    assert groundedness(quoted_excerpt("Bananas are yellow fruit.", 1), {1: source}, 0.5) == 0.0
