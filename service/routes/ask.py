"""POST /v1/ask: ranked passages with checkable citations."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import AnswererDep
from service.schemas import AskRequest, AskResponse, ErrorResponse

router = APIRouter(prefix="/v1", tags=["ask"])


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={400: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
    summary="Answer a question with ranked, cited passages",
)
def ask(body: AskRequest, answerer: AnswererDep) -> AskResponse:
    return answerer.ask(body)
