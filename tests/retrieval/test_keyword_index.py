"""BM25 keyword index: stemming, filters, persistence, reload by version."""
import pytest

from retrieval.keyword_index import Bm25KeywordIndex

pytestmark = pytest.mark.unit

TEXTS = {
    1: "The licensee shall pay royalties quarterly.",
    2: "Replace part XK-9472 when the filter light blinks.",
    3: "Royalty payments are due within thirty days.",
}


def _index(folder):
    idx = Bm25KeywordIndex(folder)
    idx.add(list(TEXTS), list(TEXTS.values()))
    return idx


def test_stemmed_match_and_rare_token(tmp_path):
    idx = _index(tmp_path)
    assert {i for i, _ in idx.search("royalty paid", 5)} == {1, 3}
    assert idx.search("xk-9472", 5)[0][0] == 2
    assert idx.search("unrelated words entirely", 5) == []
    assert idx.search("the of and", 5) == []  # stopwords only


def test_filter_applies_before_top_k(tmp_path):
    idx = _index(tmp_path)
    assert [i for i, _ in idx.search("royalty", 1, allowed_ids={3})] == [3]
    assert idx.search("royalty", 5, allowed_ids={2}) == []


def test_remove_and_persist(tmp_path):
    idx = _index(tmp_path)
    assert idx.remove([1, 42]) == 1
    assert [i for i, _ in idx.search("royalty", 5)] == [3]
    idx.save()
    again = Bm25KeywordIndex(tmp_path)
    assert again.ids() == {2, 3}
    assert [i for i, _ in again.search("royalties", 5)] == [3]
    idx.add([9], ["royalty audit rights"])
    idx.save()
    again.refresh()
    assert again.ids() == {2, 3, 9}
