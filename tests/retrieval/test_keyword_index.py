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


def test_document_score_lifts_a_chunk_whose_document_matches_the_rest(tmp_path):
    # Document 7 talks about royalties in one chunk and audits in the next; document 8 has
    # a single, shorter chunk that matches "royalty" better than chunk 1 does on its own
    # but says nothing of audits.
    texts = {1: "The licensee pays royalties to the licensor at the end of each calendar quarter.",
             2: "The licensor may audit those payments yearly.", 3: "Royalties paid quarterly."}
    plain = Bm25KeywordIndex(tmp_path / "plain")
    plain.add(list(texts), list(texts.values()), [7, 7, 8])
    mixed = Bm25KeywordIndex(tmp_path / "mixed", document_weight=0.5)
    mixed.add(list(texts), list(texts.values()), [7, 7, 8])
    query = "royalty audit"
    alone = [i for i, _ in plain.search(query, 3)]
    assert alone.index(3) < alone.index(1)
    ranked = [i for i, _ in mixed.search(query, 3)]
    assert ranked.index(1) < ranked.index(3)  # chunk 1's document also speaks of audits
    assert all(0.0 < s <= 1.0 for _, s in mixed.search(query, 3))
    # a chunk that matches nothing itself is never returned for its document's sake
    assert mixed.search("audit", 3) == [(2, 1.0)]


def test_groups_persist_and_removed_chunks_leave_their_document(tmp_path):
    idx = Bm25KeywordIndex(tmp_path, document_weight=0.5)
    idx.add([1, 2, 3], ["royalty payments quarterly", "audit of the royalty records", "royalty payments quarterly too"],
            [7, 7, 8])
    before = [i for i, _ in idx.search("royalty audit", 3)]
    idx.save()
    again = Bm25KeywordIndex(tmp_path, document_weight=0.5)
    assert [i for i, _ in again.search("royalty audit", 3)] == before
    again.remove([2])
    # without chunk 2, document 7 no longer speaks of audits: chunks 1 and 3 tie on their own words
    # and on their documents, and neither is lifted
    scores = dict(again.search("royalty audit", 3))
    assert set(scores) == {1, 3}


def test_document_weight_out_of_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match="document_weight"):
        Bm25KeywordIndex(tmp_path, document_weight=1.5)


def test_within_one_document_the_chunks_keep_their_own_order(tmp_path):
    texts = ["royalty royalty audit", "royalty report", "audit rights and royalty", "nothing relevant", "royalty"]
    ids, groups = [1, 2, 3, 4, 5], [7, 7, 7, 7, 8]
    plain, mixed = Bm25KeywordIndex(tmp_path / "p"), Bm25KeywordIndex(tmp_path / "m", document_weight=1.0)
    plain.add(ids, texts, groups)
    mixed.add(ids, texts, groups)
    one_document = {1, 2, 3, 4}
    assert [i for i, _ in mixed.search("royalty audit", 5, one_document)] == \
        [i for i, _ in plain.search("royalty audit", 5, one_document)]


def test_a_search_does_not_load_scipy_and_scores_as_scipy_would(tmp_path, monkeypatch):
    """bm25s is imported with scipy hidden (its import was the largest part of a CLI
    search's start) and builds its matrix with numpy: the scores are the ones scipy's
    matrix gives."""
    import subprocess
    import sys

    probe = ("import sys\nfrom retrieval.keyword_index import Bm25KeywordIndex\n"
             f"idx = Bm25KeywordIndex({str(tmp_path / 'a')!r})\n"
             f"idx.add({list(TEXTS)!r}, {list(TEXTS.values())!r})\n"
             "assert idx.search('royalty', 2)[0][0] in (1, 3)\n"
             "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"

    sparse = pytest.importorskip("scipy.sparse")
    import bm25s
    from bm25s.tokenization import Tokenized

    idx = _index(tmp_path / "b")
    docs = [idx._tokens[c].tolist() for c in sorted(idx._tokens)]
    query = [t for t in idx.tokenize(["royalties paid within days"])[0] if t in idx._vocab]
    scores = {}
    for backend in ("numpy", "scipy"):
        bm25 = bm25s.BM25(csc_backend="numpy")
        if backend == "scipy":  # as bm25s builds it when it has scipy
            bm25.csc_backend = "scipy"
            monkeypatch.setattr(bm25s, "sp", sparse, raising=False)
            monkeypatch.setattr(bm25s, "SCIPY_AVAILABLE", True)
        bm25.index(Tokenized(ids=docs, vocab=idx._vocab), show_progress=False)
        scores[backend] = bm25.get_scores(query)
    assert scores["numpy"].tolist() == scores["scipy"].tolist() and scores["numpy"].max() > 0


def test_first_searches_at_once_in_a_new_process_all_work(tmp_path):
    """Concurrent first searches of a fresh process each import bm25s: none may see it half
    initialised (an AttributeError on `bm25s.tokenize` did, under load)."""
    import subprocess
    import sys

    probe = ("import threading\nfrom retrieval.keyword_index import bm25_tokens\n"
             "import Stemmer\nstem = Stemmer.Stemmer('english')\n"
             "gate, errors = threading.Barrier(8), []\n"
             "def go():\n    gate.wait()\n    try:\n        assert bm25_tokens(['royalties paid'], stem) == [['royalti', 'paid']]\n"
             "    except Exception as exc:\n        errors.append(repr(exc))\n"
             "threads = [threading.Thread(target=go) for _ in range(8)]\n"
             "[t.start() for t in threads]; [t.join() for t in threads]\nprint(errors)")
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]"
