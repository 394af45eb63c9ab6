import json

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


def test_a_name_outside_the_fixed_set_fails_at_start_with_the_allowed_values(monkeypatch, tmp_path):
    from pydantic import ValidationError

    monkeypatch.setenv("DOCINTEL_JOB_QUEUE", "celary")
    with pytest.raises(ValidationError, match="Input should be 'embedded' or 'celery'"):
        Settings(_env_file=None)
    monkeypatch.delenv("DOCINTEL_JOB_QUEUE")
    for field, typo in (("search_mode", "hybird"), ("fusion", "rff"), ("embedding_runtime", "onnx"),
                        ("query_embedding_runtime", "int8"), ("reranker", "colbert"), ("llm_backend", "ollama"),
                        ("answer_unverified", "guess"), ("log_level", "loud")):
        with pytest.raises(ValidationError, match=field):
            Settings(_env_file=None, **{field: typo})
    # what the free-text settings used to forgive still works
    s = Settings(_env_file=None, reranker=" Cross-Encoder ", log_level="debug", query_embedding_runtime="")
    assert (s.reranker, s.log_level, s.query_embedding_runtime) == ("cross-encoder", "DEBUG", "")
    assert Settings(_env_file=None, reranker="").reranker == "none"


def test_the_literals_are_the_names_the_factories_take():
    from typing import get_args

    from ingestion.embedding import RUNTIMES
    from retrieval.rerank import RERANKERS
    from retrieval.search import MODES

    def allowed(field: str) -> set[str]:
        return set(get_args(Settings.model_fields[field].annotation))

    assert allowed("search_mode") == set(MODES)
    assert allowed("embedding_runtime") == set(RUNTIMES)
    assert allowed("query_embedding_runtime") == set(RUNTIMES) | {""}  # "" = the document runtime
    assert allowed("reranker") == set(RERANKERS)


def test_the_cli_names_a_bad_setting_and_what_it_accepts(monkeypatch, capsys):
    import cli.main
    from core.settings import get_settings

    monkeypatch.setenv("DOCINTEL_SEARCH_MODE", "hybird")
    monkeypatch.setattr("sys.argv", ["docintel", "collections", "list", "--json"])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.main.main()
    finally:
        get_settings.cache_clear()
    assert exit_.value.code == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert "DOCINTEL_SEARCH_MODE='hybird'" in error and "'dense', 'bm25' or 'hybrid'" in error
