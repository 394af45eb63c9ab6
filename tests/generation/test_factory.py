"""The Generator factory is the one place that knows the backends: what each is built from,
how a run records it, which local model file it needs."""
import typing

import pytest

from core.settings import Settings
from generation.factory import BACKENDS, describe_generator, get_generator, local_model_name
from generation.models import ModelError, get_spec


@pytest.mark.unit
def test_settings_offer_exactly_the_factorys_backends():
    allowed = typing.get_args(Settings.model_fields["llm_backend"].annotation)
    assert set(allowed) == set(BACKENDS)


@pytest.mark.unit
def test_each_backend_describes_itself_for_a_run_record(settings):
    llama = settings.model_copy(update={"llm_backend": "llamacpp", "llm_model": "smollm2-135m-instruct-q4_1"})
    spec = get_spec("smollm2-135m-instruct-q4_1")
    assert describe_generator(llama) == {"backend": "llamacpp", "name": spec.name, "sha256": spec.sha256}
    assert local_model_name(llama) == "smollm2-135m-instruct-q4_1"
    remote = settings.model_copy(update={"llm_backend": "openai", "openai_base_url": "http://llm:8000/v1", "openai_model": "m"})
    assert describe_generator(remote) == {"backend": "openai", "base_url": "http://llm:8000/v1", "name": "m"}
    assert local_model_name(remote) is None
    hf = settings.model_copy(update={"llm_backend": "transformers", "transformers_model_path": "/models/x"})
    assert describe_generator(hf) == {"backend": "transformers", "path": "/models/x"} and local_model_name(hf) is None


@pytest.mark.unit
def test_a_backend_it_does_not_know_and_a_missing_folder_are_clear_errors(settings):
    with pytest.raises(ModelError, match="unknown llm_backend 'vllm' \\(use llamacpp, openai, transformers\\)"):
        get_generator(settings.model_copy(update={"llm_backend": "vllm"}))  # model_copy skips validation
    with pytest.raises(ModelError, match="DOCINTEL_TRANSFORMERS_MODEL_PATH"):
        get_generator(settings.model_copy(update={"llm_backend": "transformers", "transformers_model_path": ""}))


@pytest.mark.slow  # loads the tiny model
def test_one_instance_per_configuration(llm_settings):
    gen = get_generator(llm_settings)
    assert get_generator(llm_settings.model_copy()) is gen
    assert get_generator(llm_settings.model_copy(update={"llm_context_tokens": 1024})) is not gen
