"""Every Generator backend passes the same conformance checks, on real models/servers."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from generation.base import Completion, Generator, Message
from generation.openai_backend import GeneratorError, OpenAIGenerator

pytestmark = pytest.mark.slow

MESSAGES = [Message("system", "You are helpful."), Message("user", "Say hello.")]


def check_generator(gen):
    assert isinstance(gen, Generator)  # generate, stream and model_id: all that callers use
    out = gen.generate(MESSAGES, max_tokens=8, temperature=0.0)
    assert isinstance(out.text, str) and out.text.strip()
    assert out.usage.prompt_tokens > 0 and 0 < out.usage.completion_tokens <= 8
    assert out.timings["total"] > 0 and out.model == gen.model_id
    # the reason it stopped: the token budget exactly when it spent all of it
    assert out.finish_reason == ("length" if out.usage.completion_tokens == 8 else "stop"), (out.finish_reason, out.usage)
    *pieces, completion = list(gen.stream(MESSAGES, max_tokens=8, temperature=0.0))
    assert isinstance(completion, Completion) and all(isinstance(p, str) for p in pieces)
    assert pieces and "".join(pieces) == completion.text
    assert completion.usage.completion_tokens > 0
    # same prompt, greedy decoding: the stream says what generate said, and why it stopped
    assert "".join(pieces).strip() == out.text.strip()
    assert completion.finish_reason == out.finish_reason
    check_stop_sequence(gen, out.text)


def check_stop_sequence(gen, full: str):
    """A stop sequence taken from the middle of what the model says unstopped: the output
    ends right before its first occurrence, in generate and in stream, reason "stop"."""
    middle = len(full) // 2
    stop = full[middle:middle + 3]
    assert stop.strip(), f"no stop sequence to take from {full!r}"
    expected = full[:full.index(stop)]
    cut = gen.generate(MESSAGES, max_tokens=8, temperature=0.0, stop=[stop])
    assert cut.text == expected and cut.finish_reason == "stop", (stop, cut.text, cut.finish_reason)
    *pieces, completion = list(gen.stream(MESSAGES, max_tokens=8, temperature=0.0, stop=[stop]))
    assert "".join(pieces) == completion.text == expected and completion.finish_reason == "stop"


@pytest.fixture(scope="module")
def llamacpp_gen(smol_path):
    from generation.llamacpp_backend import LlamaCppGenerator

    return LlamaCppGenerator(smol_path, "llamacpp:smol", n_ctx=1024)


def test_llamacpp_backend(llamacpp_gen):
    check_generator(llamacpp_gen)


def test_stop_sequences(llamacpp_gen):
    messages = [Message("user", "Count from 1 to 10 separated by commas.")]
    full = llamacpp_gen.generate(messages, max_tokens=40)
    assert "5" in full.text and "6" in full.text  # unstopped, the count goes past 5
    out = llamacpp_gen.generate(messages, max_tokens=40, stop=["5"])
    assert out.text == full.text[:full.text.index("5")] and out.finish_reason == "stop"
    assert "4" in out.text  # it counted up to the stop, not nothing at all


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def openai_server(smol_path, tmp_path_factory):
    """A real OpenAI-compatible server (llama.cpp's) on loopback."""
    port = _free_port()
    # llama.cpp logs a lot at load: a file, not a pipe nobody reads (which would block it).
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smol_path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "1024", "--model_alias", "smol"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"llama_cpp.server exited: {log.read().decode(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1) as resp:
                if json.load(resp)["data"]:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("llama_cpp.server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_openai_backend_against_real_server(openai_server):
    check_generator(OpenAIGenerator(openai_server, "smol", timeout=60, max_retries=1))


def test_openai_backend_unreachable_server_is_a_clear_error():
    gen = OpenAIGenerator(f"http://127.0.0.1:{_free_port()}/v1", "x", timeout=2, max_retries=1)
    t0 = time.time()
    with pytest.raises(GeneratorError, match="unreachable"):
        gen.generate(MESSAGES, max_tokens=4)
    assert time.time() - t0 < 30


def test_openai_backend_http_error_is_reported(openai_server):
    # A prompt far beyond the server's 1024-token context: the server answers 4xx/5xx.
    gen = OpenAIGenerator(openai_server, "smol", timeout=60, max_retries=0)
    with pytest.raises(GeneratorError, match="answered"):
        gen.generate([Message("user", "word " * 5000)], max_tokens=4)


@pytest.fixture(scope="module")
def tiny_hf_model(tmp_path_factory):
    """A randomly initialised Llama with a chat template, built offline from a config."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from core.settings import Settings
    from ingestion.embedding import resolve_model_dir

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = PreTrainedTokenizerFast(tokenizer_file=f"{resolve_model_dir(Settings(_env_file=None))}/tokenizer.json")
    tok.add_special_tokens({"eos_token": "[SEP]", "pad_token": "[PAD]", "bos_token": "[CLS]"})
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_transformers_backend_code_path(tiny_hf_model):
    from generation.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(str(tiny_hf_model))
    check_generator(gen)
    # a longer budget: the random model never says its end token, so it spends all of it
    out = gen.generate(MESSAGES, max_tokens=12)
    assert out.usage.completion_tokens == 12 and out.finish_reason == "length"
    *_, completion = list(gen.stream(MESSAGES, max_tokens=12))
    assert completion.text == out.text and completion.usage.completion_tokens == 12
    assert completion.finish_reason == "length"
