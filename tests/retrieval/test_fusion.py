import pytest

from retrieval.fusion import reciprocal_rank_fusion

pytestmark = pytest.mark.unit


def test_rrf_hand_computed():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    sparse = [(3, 12.0), (4, 5.0)]
    fused = dict(reciprocal_rank_fusion([dense, sparse], k=60))
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[1] == pytest.approx(1 / 61)
    assert fused[4] == pytest.approx(1 / 62)
    assert [d for d, _ in reciprocal_rank_fusion([dense, sparse], k=60)] == [3, 1, 2, 4]


def test_weights_shift_the_order():
    dense = [(1, 0.9), (2, 0.8)]
    sparse = [(2, 9.0), (1, 1.0)]
    assert reciprocal_rank_fusion([dense, sparse], [2.0, 1.0])[0][0] == 1
    assert reciprocal_rank_fusion([dense, sparse], [1.0, 2.0])[0][0] == 2


def test_ties_are_deterministic_and_empty_lists_are_fine():
    assert reciprocal_rank_fusion([[(5, 1.0)], [(4, 1.0)]]) == reciprocal_rank_fusion([[(5, 1.0)], [(4, 1.0)]])
    assert [d for d, _ in reciprocal_rank_fusion([[(5, 1.0)], [(4, 1.0)]])] == [4, 5]
    assert reciprocal_rank_fusion([[], []]) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[]], [1.0, 2.0])


def test_convex_keeps_score_gaps():
    from retrieval.fusion import convex_combination

    dense = [(1, 0.60), (2, 0.59), (3, 0.55), (4, 0.30)]  # dense is unsure about 1-3
    sparse = [(3, 9.0), (1, 1.0), (2, 1.0)]  # one strong keyword hit
    fused = convex_combination([dense, sparse], [0.5, 0.5])
    assert [d for d, _ in fused] == [3, 1, 2, 4]
    assert dict(fused)[3] == pytest.approx(0.5 * 0.55 / 0.60 + 0.5 * 1.0)
    assert dict(fused)[1] == pytest.approx(0.5 * 1.0 + 0.5 * 1.0 / 9.0)
    assert dict(fused)[4] == pytest.approx(0.5 * 0.30 / 0.60)
    # RRF on the same lists puts the unsure dense winner first
    assert reciprocal_rank_fusion([dense, sparse])[0][0] == 1
    assert convex_combination([[], []], [0.5, 0.5]) == []
