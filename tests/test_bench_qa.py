"""bench.qa: the answer sets that moved to the evaluation suites say where they went."""
import pytest

from bench.qa import main


@pytest.mark.unit
@pytest.mark.parametrize("argv, where", [
    (["--cuad", "x", "--terms-only"], "-s cuad -d ../shared/data/cuad-dev -o source=pdf -o folds=0"),
    (["--emanual", "x"], "-s emanual"),
    (["--policyqa", "x.json"], "-s squad"),
])
def test_moved_options_name_the_eval_command(argv, where, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "moved to the evaluation suites" in err and where in err
