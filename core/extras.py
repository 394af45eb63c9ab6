"""Optional extras: what only training and evaluation use, kept out of the serving install.

`pip install docintel` serves (ingest, search, answers, review, the API and workers);
`docintel[train]` adds what `docintel review train` needs and `docintel[eval]` what
`docintel eval` needs (scripts/setup.sh installs both). The modules are imported lazily, so
a missing one surfaces as ModuleNotFoundError where it is used; the entry points (the CLI,
the job runner) turn it into a message that names the extra to install.
"""
from __future__ import annotations

from core.errors import DocIntelError

# Import name -> the extras that provide it (keep in step with pyproject.toml).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "sklearn": ("train", "eval"),
    "scipy": ("train", "eval"),
    "matplotlib": ("eval",),
    "rouge_score": ("eval",),
}


class MissingExtraError(DocIntelError):
    """A feature needs an optional extra that is not installed."""


def missing_extra(exc: BaseException) -> MissingExtraError | None:
    """The actionable error for a ModuleNotFoundError of an extra's module, else None."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split(".")[0]
    extras = EXTRA_MODULES.get(top)
    if extras is None:
        return None
    options = " or ".join(f"`pip install 'docintel[{e}]'`" for e in extras)
    return MissingExtraError(f"this needs {top}, which only training and evaluation use: run {options} "
                             "(scripts/setup.sh installs both extras)")
