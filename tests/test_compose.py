"""compose.yaml is checked without a Docker engine: every DocIntel service runs a real
`docintel` command, and every DOCINTEL_* variable it sets is a real setting."""
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[1]


def _services():
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


def test_every_docintel_command_exists_in_the_cli():
    from typer.main import get_command

    from cli.main import app

    cli = get_command(app)
    ours = {name: s for name, s in _services().items() if s.get("image", "").startswith("docintel")}
    assert {"api", "worker-ingest", "worker-llm"} <= set(ours)
    for name, service in ours.items():
        assert service["command"][0] == "docintel", name
        for argv in (service["command"], service.get("healthcheck", {}).get("test", [])[1:]):
            if not argv or argv[0] != "docintel":  # e.g. an HTTP probe of the API
                continue
            cmd, rest = cli, argv[1:]
            while hasattr(cmd, "commands") and rest and rest[0] in cmd.commands:
                cmd, rest = cmd.commands[rest[0]], rest[1:]
            assert not hasattr(cmd, "commands"), f"{name}: '{' '.join(argv)}' is not a command"
            options = {o for p in cmd.params for o in getattr(p, "opts", [])}
            for token in rest:
                if token.startswith("-"):
                    assert token in options, f"{name}: {token} is not an option of {' '.join(argv[:3])}"


def test_every_env_var_is_a_setting():
    from core.settings import Settings

    fields = {f"DOCINTEL_{n.upper()}" for n in Settings.model_fields}
    for name, service in _services().items():
        for var in service.get("environment", {}) or {}:
            if var.startswith("DOCINTEL_"):
                assert var in fields, f"{name}: {var} is not a setting"
    assert "RUN python -m venv /app/.venv && bash scripts/setup.sh" in (ROOT / "Dockerfile").read_text()


def test_the_image_copies_every_package_the_wheel_holds():
    """A package missing from the image fails only when a container starts (web/ did: the
    API app mounts the UI at import)."""
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    missing = {p.rstrip("*") for p in packages} - copied
    assert not missing, f"Dockerfile does not COPY {sorted(missing)}"
