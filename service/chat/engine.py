"""Grounded chat answers: retrieve for the conversation, then answer extractively or generate."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from service.chat.conversation import latest_question, retrieval_query
from service.chat.schemas import ChatRequest
from service.qa.answer import Answerer
from service.render import Rendered, render_answer
from service.schemas import AskRequest, AskResponse

CONTEXT_PASSAGES = 5


@dataclass
class Grounding:
    """What one chat turn is answered from."""

    question: str
    query: str
    response: AskResponse
    completion_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


class ChatEngine:
    def __init__(self, answerer: Answerer, model_id: str) -> None:
        self.answerer = answerer
        self.model_id = model_id

    def ground(self, request: ChatRequest) -> Grounding:
        question, earlier = latest_question(request.messages)
        query = retrieval_query(question, earlier)
        response = self.answerer.ask(AskRequest(question=query, top_k=CONTEXT_PASSAGES))
        return Grounding(question, query, response)

    def document(self, doc_id: str) -> Any:
        return self.answerer.retriever.reader.document(doc_id)

    def extractive(self, grounding: Grounding, first: int = 1) -> Rendered:
        """The answer sentence(s), marked with their sources (numbered from ``first``) and any
        corroborating outlets, then the source list."""
        return render_answer(grounding.response, self.document, first=first)
