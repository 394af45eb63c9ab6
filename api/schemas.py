"""Request bodies (pydantic). Responses are the CLI's `--json` shapes."""
from __future__ import annotations

from typing import Any, Literal

from typing import Annotated

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

# Ids are database BIGINTs: anything past that is a 422, not a driver overflow.
MAX_ID = 2**63 - 1
DocumentId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="A document id.")]

Name = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$",
             description="Letters, digits, '.', '_' and '-'.", examples=["contracts"])


class CollectionCreate(BaseModel):
    name: str = Name


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(None, max_length=1000, description="Only these documents.")
    name: str | None = Field(None, max_length=500, description="Only documents whose name matches this glob.", examples=["*.pdf"])
    metadata: dict[str, str] | None = Field(None, description="Only documents with these metadata values.")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"collection": "contracts", "query": "termination for convenience", "k": 5, "mode": "hybrid"}]})
    collection: str = Name
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(10, ge=1, le=100)
    mode: Literal["dense", "bm25", "hybrid"] | None = None
    filters: Filters | None = None


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20000)


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"collection": "contracts", "question": "Which law governs the agreement?", "stream": False}]})
    collection: str = Name
    question: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(None, ge=1, le=50, description="Sources given to the model (default from settings).")
    document_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(None, max_length=1000)
    history: list[Turn] = Field(default_factory=list, max_length=50)
    stream: bool = Field(False, description="Server-Sent Events: `delta` events, then one `answer` event.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: Annotated[str, Field(max_length=20000)] | Annotated[list[dict[str, Any]], Field(max_length=50)] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The OpenAI chat-completions request; `model` is `docintel:<collection>`. Sampling
    options are accepted and ignored: answers are greedy so that the check is repeatable."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"model": "docintel:contracts", "messages": [{"role": "user", "content": "Which law governs the agreement?"}]}]})
    model: str = Field(min_length=1, max_length=300)
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    max_tokens: int | None = None
