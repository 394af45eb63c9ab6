"""Model files: assembly from parts, sha256 verification, refusal on mismatch."""
import hashlib

import pytest

from generation import models
from generation.models import ModelError, ModelSpec

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(settings, tmp_path):
    """An empty models location of this test's own (not the session's shared one)."""
    return settings.model_copy(update={"models_dir": tmp_path / "models"})


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A three-part 'model' in three importable-by-path data packages (never imported)."""
    root = tmp_path / "site"
    blobs = [b"GGUF" + bytes(range(200)) * 50, b"middle" * 999, b"tail-bytes"]
    parts = []
    for i, blob in enumerate(blobs, 1):
        pkg = root / f"fake_model_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('model packages must never be imported')\n")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(blob)
        parts.append((pkg.name, f"data/part{i:02d}.bin"))
    monkeypatch.syspath_prepend(str(root))
    whole = b"".join(blobs)
    spec = ModelSpec("fake", "fake.gguf", len(whole), hashlib.sha256(whole).hexdigest(), tuple(parts), "pip install fake", "MIT", "test")
    monkeypatch.setitem(models.MODELS, "fake", spec)
    return spec, root


def test_install_assembles_and_verifies(fake_model, settings):
    spec, _ = fake_model
    out = models.install(settings, "fake")
    assert out["status"] == "installed" and out["size"] == spec.size
    assert models.verified_path(settings, "fake").read_bytes()[:4] == b"GGUF"
    assert models.install(settings, "fake")["status"] == "present"
    assert [p.name for p in (settings.models_dir).iterdir()] == ["fake.gguf"]  # no temp files left


def test_tampered_file_is_refused(fake_model, settings):
    models.install(settings, "fake")
    path = settings.models_dir / "fake.gguf"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="fails verification.*refusing to load"):
        models.verified_path(settings, "fake")
    path.write_bytes(bytes(data[:-1]))
    with pytest.raises(ModelError, match="expected"):
        models.verified_path(settings, "fake")


def test_corrupt_part_fails_install_without_leaving_a_file(fake_model, settings):
    spec, root = fake_model
    (root / "fake_model_part2" / "data" / "part02.bin").write_bytes(b"changed")
    with pytest.raises(ModelError, match="does not match"):
        models.install(settings, "fake")
    assert not (settings.models_dir / "fake.gguf").exists()


def test_missing_parts_and_unknown_model_are_explained(settings, monkeypatch):
    spec = ModelSpec("ghost", "ghost.gguf", 1, "0" * 64, (("no_such_pkg_xyz", "a.bin"),), "pip install ghost", "MIT", "x")
    monkeypatch.setitem(models.MODELS, "ghost", spec)
    with pytest.raises(ModelError, match="not installed: run `pip install ghost`"):
        models.install(settings, "ghost")
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        models.verified_path(settings, "nope")


def test_models_live_outside_the_data_directory(fake_model, settings, tmp_path):
    """One install serves every data directory that shares the models location."""
    models.install(settings, "fake")
    assert models.model_path(settings, models.MODELS["fake"]).parent == tmp_path / "models"
    other = settings.model_copy(update={"data_dir": tmp_path / "another-var"})
    assert models.verified_path(other, "fake") == tmp_path / "models" / "fake.gguf"
    elsewhere = settings.model_copy(update={"models_dir": tmp_path / "empty"})
    with pytest.raises(ModelError, match="not assembled yet"):
        models.verified_path(elsewhere, "fake")


def test_default_models_dir_is_a_per_user_cache(monkeypatch, tmp_path):
    from core.settings import Settings

    monkeypatch.delenv("DOCINTEL_MODELS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert Settings(data_dir=tmp_path / "a", _env_file=None).models_dir == tmp_path / "cache" / "docintel" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings(_env_file=None).models_dir == tmp_path / "home" / ".cache" / "docintel" / "models"
    monkeypatch.setenv("DOCINTEL_MODELS_DIR", str(tmp_path / "m"))
    assert Settings(_env_file=None).models_dir == tmp_path / "m"


def test_shipped_test_model_verifies(smol_path):
    assert smol_path.stat().st_size == models.MODELS["smollm2-135m-instruct-q4_1"].size
