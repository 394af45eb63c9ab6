"""The marker rule in tests/conftest.py: every test is unit, integration or slow."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _hook():
    spec = importlib.util.spec_from_file_location("_conftest_under_test", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pytest_collection_modifyitems


class Item:
    def __init__(self, nodeid: str, *marks: str):
        self.nodeid, self.marks = nodeid, set(marks)

    def get_closest_marker(self, name: str):
        return name if name in self.marks else None


def test_an_unmarked_test_stops_the_run():
    check = _hook()
    check(None, [Item("a::unit", "unit"), Item("b::pg", "unit", "integration"), Item("c::model", "slow", "integration")])
    with pytest.raises(pytest.UsageError, match=r"1 test\(s\) carry none of the markers unit, integration, slow.*\n  b::bare"):
        check(None, [Item("a::unit", "unit"), Item("b::bare")])
    with pytest.raises(pytest.UsageError, match=r"marked both unit and slow.*\n  c::both"):
        check(None, [Item("c::both", "unit", "slow")])


def test_this_session_has_no_unmarked_test(request):
    """The rule is live: the running session got past it, so this test has its marker."""
    assert request.node.get_closest_marker("unit") is not None
    assert "--strict-markers" in request.config.getini("addopts")
