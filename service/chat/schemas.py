"""The OpenAI chat-completions wire format, as far as ragqa serves it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.schemas import Source, Url

MAX_MESSAGES = 100
MAX_MESSAGE_CHARS = 16_000


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    # Clients send fields such as "name"; they are accepted and ignored.
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    @field_validator("content")
    @classmethod
    def _bounded(cls, value: str | list[TextPart] | None) -> str | list[TextPart] | None:
        size = len(value) if isinstance(value, str) else sum(len(p.text) for p in value or [])
        if size > MAX_MESSAGE_CHARS:
            raise ValueError(f"message is {size} characters, over the {MAX_MESSAGE_CHARS} limit")
        return value

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    # OpenAI clients send many optional fields (presence_penalty, user, ...); extras are ignored.
    model_config = ConfigDict(extra="allow")

    model: str = Field("ragqa", description="Any id; the response names the served model.")
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="Only one choice is generated.")


class ChatCitation(BaseModel):
    """What marker [index] in the text points at: a checkable span of a document."""

    index: int
    doc_id: str
    title: str
    source: Source
    url: Url
    site_name: str | None
    published: str | None
    start: int
    end: int
    text: str


class ResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    citations: list[ChatCitation]
    ragqa: dict[str, Any] = Field(
        description="ragqa details: engine used, whether an answer was found, index version."
    )


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ragqa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
