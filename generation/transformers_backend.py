"""A local Hugging Face causal LM with a chat template (for users with a GPU)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from generation.base import Completion, Message, Usage, as_dicts


class TransformersGenerator:
    def __init__(self, model_dir: str, device: str = "cpu"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True).to(device)
        self.model.eval()
        self.device = device
        self.model_id = f"transformers:{model_dir}"

    def _inputs(self, messages: Sequence[Message]):
        return self.tokenizer.apply_chat_template(
            as_dicts(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)

    def _gen_kwargs(self, max_tokens: int, temperature: float) -> dict:
        kwargs = {"max_new_tokens": max_tokens, "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            kwargs.update(do_sample=False)
        return kwargs

    @staticmethod
    def _cut(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
        for s in stop or []:
            i = text.find(s)
            if i >= 0:
                return text[:i], True
        return text, False

    def generate(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None) -> Completion:
        import torch

        t0 = time.perf_counter()
        inputs = self._inputs(messages)
        with torch.no_grad():
            out = self.model.generate(**inputs, **self._gen_kwargs(max_tokens, temperature))
        new = out[0, inputs["input_ids"].shape[1]:]
        text, stopped = self._cut(self.tokenizer.decode(new, skip_special_tokens=True), stop)
        completion = Completion(
            text=text, model=self.model_id,
            usage=Usage(int(inputs["input_ids"].shape[1]), int(new.shape[0])),
            finish_reason="stop" if stopped or new.shape[0] < max_tokens else "length",
            timings={"total": time.perf_counter() - t0},
        )
        return completion

    def stream(self, messages: Sequence[Message], max_tokens: int = 256, temperature: float = 0.0, stop: Sequence[str] | None = None,
               cancel: threading.Event | None = None) -> Iterator[str | Completion]:
        import torch
        from transformers import TextIteratorStreamer

        t0 = time.perf_counter()
        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        generated: list[int] = []  # new tokens, counted as generate() made them

        def run() -> None:
            with torch.no_grad():
                out = self.model.generate(**inputs, streamer=streamer, **self._gen_kwargs(max_tokens, temperature))
            generated.append(int(out.shape[1]) - prompt_tokens)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        pieces: list[str] = []
        first = None
        stopped = False
        for piece in streamer:
            if cancel is not None and cancel.is_set():
                stopped = True  # drain the streamer; generate() runs to its end on its thread
            if not piece or stopped:
                continue
            candidate, stopped = self._cut("".join(pieces) + piece, stop)
            piece = candidate[len("".join(pieces)):]
            if piece:
                if first is None:
                    first = time.perf_counter() - t0
                pieces.append(piece)
                yield piece
        thread.join()
        text = "".join(pieces)
        n_new = generated[0] if generated else len(self.tokenizer.encode(text, add_special_tokens=False))
        # Its own usage travels with each stream, never on the shared instance.
        yield Completion(
            text=text, model=self.model_id,
            usage=Usage(prompt_tokens, n_new),
            finish_reason="stop" if stopped or n_new < max_tokens else "length",
            timings={"first_token": first or 0.0, "total": time.perf_counter() - t0},
        )
