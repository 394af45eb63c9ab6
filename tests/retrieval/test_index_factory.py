"""The index factories are the one place that knows the index backends (DESIGN.md, Seams)."""
import re
import typing
from pathlib import Path

import pytest

from core.settings import Settings
from retrieval.index_factory import BACKENDS, index_location, make_keyword_index, make_vector_index

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["core", "ingestion", "retrieval", "generation", "review", "workers", "api", "evaluation", "cli"]


def test_settings_offer_exactly_the_factorys_backends():
    assert set(typing.get_args(Settings.model_fields["index_backend"].annotation)) == set(BACKENDS)
    assert Settings(_env_file=None).index_backend == "files"


def test_an_unknown_backend_is_named(settings):
    odd = settings.model_copy(update={"index_backend": "elastic"})  # model_copy skips validation
    for build in (lambda: make_vector_index(odd, 1, 8), lambda: make_keyword_index(odd, 1)):
        with pytest.raises(ValueError, match="unknown index_backend 'elastic' \\(use files"):
            build()


def test_collections_and_data_directories_have_their_own_location(tmp_path):
    a, b = (Settings(data_dir=tmp_path / name, _env_file=None) for name in ("a", "b"))
    assert index_location(a, 1) == index_location(a.model_copy(), 1)
    assert len({index_location(a, 1), index_location(a, 2), index_location(b, 1)}) == 3


def test_nothing_else_branches_on_the_backend_or_builds_one():
    """Only the factory reads the setting and builds the concrete indexes; everything else
    holds a VectorIndex and a KeywordIndex."""
    allowed = {"core/settings.py", "retrieval/index_factory.py"}
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            text = path.read_text(encoding="utf-8")
            if rel not in allowed and re.search(r"index_backend|FaissVectorIndex\(|Bm25KeywordIndex\(", text):
                found.append(rel)
    assert not found, f"backend names or concrete indexes outside the factory: {found}"
