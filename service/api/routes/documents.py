"""Full cleaned text of a document, so a citation's span can be checked."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service.api.deps import AnswererDep
from service.schemas import DocumentResponse, ErrorResponse

router = APIRouter(prefix="/v1", tags=["documents"])


@router.get(
    "/documents/{doc_id:path}",
    response_model=DocumentResponse,
    responses={404: {"model": ErrorResponse}},
    summary="A document's cleaned text and metadata",
)
def get_document(doc_id: str, answerer: AnswererDep) -> DocumentResponse:
    row = answerer.retriever.reader.document(doc_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no document with doc_id {doc_id!r}")
    return DocumentResponse(
        doc_id=row["doc_id"],
        title=row["title"],
        source=row["source"],
        published=row["published"],
        text=row["text"],
    )
