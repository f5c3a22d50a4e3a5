"""Build the /v1/ask response; shared by the HTTP route and `ragqa ask`."""

from __future__ import annotations

import time

from service.retrieval import Retriever
from service.schemas import AskRequest, AskResponse, IndexInfo, Passage


def answer_question(retriever: Retriever, request: AskRequest) -> AskResponse:
    started = time.perf_counter()
    hits = retriever.search(request.question, request.top_k)
    passages = [
        Passage(
            rank=rank,
            score=round(hit.score, 6),
            text=hit.chunk.text,
            doc_id=hit.chunk.doc_id,
            chunk_id=hit.chunk.chunk_id,
            title=hit.chunk.title,
            source=hit.chunk.source,
            published=hit.chunk.published,
            start=hit.chunk.start,
            end=hit.chunk.end,
        )
        for rank, hit in enumerate(hits, 1)
    ]
    reader = retriever.reader
    return AskResponse(
        question=request.question,
        passages=passages,
        index=IndexInfo(version=reader.version, built_at=reader.built_at),
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )
