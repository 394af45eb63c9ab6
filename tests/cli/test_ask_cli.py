"""`docintel ask` in a terminal: a quoted fallback says it is one."""
import pytest
from typer.testing import CliRunner

from generation.answer import Answer, Citation

pytestmark = pytest.mark.unit


class _Runtime:
    def __init__(self, answer: Answer):
        self.answer = answer

    def ask_stream(self, *args, **kwargs):
        yield self.answer.display_text()
        yield self.answer


@pytest.mark.parametrize("extractive", [True, False])
def test_a_quoted_fallback_is_labelled(monkeypatch, extractive):
    import cli.main

    cite = Citation(1, 7, "msa.pdf", 3, 10, 60, "Either party may terminate with ninety days notice.")
    answer = Answer("Either party may terminate with ninety days notice [1].", False, [cite], "m", {}, {"total": 0.1},
                    extractive=extractive)
    monkeypatch.setattr(cli.main, "_runtime", lambda: _Runtime(answer))
    out = CliRunner().invoke(cli.main.app, ["ask", "How can it be terminated?", "--collection", "c"]).stdout
    assert out.startswith("Either party may terminate with ninety days notice [1].") and "msa.pdf p.3" in out
    assert ("quoted from the best matching passage" in out) == extractive
