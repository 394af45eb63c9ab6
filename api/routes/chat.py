"""OpenAI-compatible chat completions over a collection: `model` is `docintel:<collection>`.

The official clients work unchanged. The message content is the checked answer with its
quoted excerpt; citations travel in an extra `citations` field (on the response, or on
the last stream chunk) that OpenAI clients ignore."""
from __future__ import annotations

import json
import time
import uuid
from contextlib import aclosing
from threading import Event

from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

from api.deps import ModelCapacity, Reader, Rt
from api.errors import ApiProblem
from api.routes.answers import stream_error
from api.schemas import ChatMessage, ChatRequest
from api.streaming import iterate_in_thread
from generation.base import Message

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
PREFIX = "docintel:"


def _collection(model: str) -> str:
    name = model[len(PREFIX):] if model.startswith(PREFIX) else model
    if not name:
        raise ApiProblem(422, "validation", f"model must name a collection, e.g. '{PREFIX}contracts' (see GET /v1/models)",
                         field="model")
    return name


def _text(m: ChatMessage) -> str:
    if isinstance(m.content, list):
        return " ".join(str(p.get("text", "")) for p in m.content if p.get("type") in ("text", "input_text"))
    return m.content or ""


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[Message]]:
    """(the last user message, the turns before it). System prompts are not passed on: the
    answer's prompt is fixed so that its check holds."""
    turns = [Message(m.role, _text(m)) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].content.strip():
        raise ApiProblem(422, "validation", "the last message must be a non-empty user message", field="messages")
    return turns[-1].content, turns[:-1]


def _usage(u: dict) -> dict:
    return {"prompt_tokens": u.get("prompt_tokens", 0), "completion_tokens": u.get("completion_tokens", 0),
            "total_tokens": u.get("total_tokens", 0)}


def _extras(answer) -> dict:
    d = answer.to_dict()
    return {"citations": d["citations"], "docintel": {k: d[k] for k in ("abstained", "excerpt", "extractive") if k in d}
            | {"abstain_reason": d.get("abstain_reason"), "answer": d["answer"]}}


@router.get("/models", summary="The tenant's collections, as OpenAI models")
def list_models(rt: Rt, who: Reader) -> dict:
    return {"object": "list", "data": [{"id": PREFIX + c["name"], "object": "model", "created": 0, "owned_by": who.tenant}
                                       for c in rt.list_collections(who.tenant)]}


@router.post("/chat/completions", summary="OpenAI-compatible chat completion, grounded in a collection",
             dependencies=[ModelCapacity],
             responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when streaming"}})
def chat_completions(body: ChatRequest, request: Request, rt: Rt, who: Reader):
    collection = _collection(body.model)
    question, history = _conversation(body.messages)
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    base = {"id": cid, "created": created, "model": body.model}
    metrics = request.app.state.metrics
    if not body.stream:
        answer = rt.ask(question, collection, None, who.tenant, history)
        metrics.observe_answer(answer.usage, answer.timings)
        return {**base, "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.display_text()},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": _usage(answer.usage), **_extras(answer)}
    cancel = Event()
    items = rt.ask_stream(question, collection, None, who.tenant, history, cancel=cancel)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        return json.dumps({**base, "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra})

    async def events():
        from generation.answer import Answer

        yield chunk({"role": "assistant", "content": ""})
        try:
            async with aclosing(iterate_in_thread(items, cancel)) as stream:
                async for item in stream:
                    if isinstance(item, Answer):
                        metrics.observe_answer(item.usage, item.timings)
                        yield chunk({}, "stop", **_extras(item))
                        if include_usage:
                            yield json.dumps({**base, "object": "chat.completion.chunk", "choices": [],
                                              "usage": _usage(item.usage)})
                    else:
                        yield chunk({"content": item})
        except Exception as exc:  # the response has started: OpenAI streams carry errors as an event
            problem = stream_error(exc)
            yield json.dumps({"error": {"message": problem["detail"], "type": problem["type"], "code": None}})
        yield "[DONE]"

    return EventSourceResponse(events(), ping=15)
