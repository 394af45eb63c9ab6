import pytest

from core.settings import Settings

pytestmark = pytest.mark.unit


def test_env_prefix_and_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCINTEL_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("DOCINTEL_CHUNK_TOKENS", "200")
    s = Settings(_env_file=None)
    assert s.data_dir == tmp_path / "d"
    assert s.chunk_tokens == 200
    assert s.sqlalchemy_url == f"sqlite:///{(tmp_path / 'd' / 'docintel.db').resolve()}"
    assert s.redis_url == "redis://127.0.0.1:6379/0"


def test_dotenv_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DOCINTEL_DATABASE_URL=postgresql+psycopg://u@h/db\n")
    assert Settings().sqlalchemy_url == "postgresql+psycopg://u@h/db"
