"""POST /v1/ask: ranked passages with checkable citations."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import AnswererDep
from service.schemas import AskRequest, AskResponse, ErrorResponse

router = APIRouter(prefix="/v1", tags=["ask"])


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={400: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
    summary="Answer a question with ranked, cited passages",
)
def ask(body: AskRequest, answerer: AnswererDep) -> Response:
    # The answer is an AskResponse already: serialise it once, instead of FastAPI validating it
    # against response_model again (response_model still documents it).
    return Response(answerer.ask(body).model_dump_json(), media_type="application/json")
