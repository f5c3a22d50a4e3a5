"""The MCP server: `ask`, `get_document` and `list_documents` as tools, and each document as the
resource ``ragqa://documents/{doc_id}``, on the official MCP Python SDK.

Two transports share these tools: streamable HTTP at ``/mcp`` on the running service (same index,
reloads, API keys, rate limit, metrics and request log as the HTTP API) and stdio (``ragqa mcp``),
for clients that start a local process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.mcpserver.resources.templates import ResourceSecurity
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer.errors import RagqaError
from service.api.errors import error_response
from service.ops.limits import SearchSlots
from service.qa.answer import Answerer
from service.render import render_answer
from service.schemas import (
    MAX_TOP_K,
    AskRequest,
    AskResponse,
    DocumentResponse,
    Filters,
    safe_source,
)

INSTRUCTIONS = (
    "Question answering over a news corpus with exact citations. Call `ask` with a question; "
    "quote the answer with its citations (doc_id and start/end offsets into the document's "
    "cleaned text). Call `get_document` to read around a citation, `list_documents` to browse "
    "what the corpus holds. When `ask` finds no answer, "
    "say the corpus does not contain it instead of guessing."
)

ASK = (
    "Answer a natural-language question from the indexed news corpus. Returns the extracted "
    "answer (sentences copied verbatim from one article, each with a citation: doc_id, title, "
    "source and start/end offsets into that document's text) or answer=null when the corpus "
    "does not contain one, and the ranked passages with the same fields plus published date and "
    "also_in (other outlets stating the same). Every citation can be checked with get_document."
)
GET_DOCUMENT = (
    "Read one document's cleaned text (the text citation offsets index into), or the slice "
    "[start, end) of it, with its title, source and publication date."
)


MAX_PAGE = 100
DOCUMENT_URI = "ragqa://documents/{doc_id}"
LIST_DOCUMENTS = (
    "List the indexed documents, in doc_id order, a page at a time: doc_id, title, source, "
    "published date, text length and the resource URI to read it. Narrow with filters (sources, "
    "dates, doc_ids) or a part of the title; pass next_cursor back for the next page."
)


class DocumentMeta(BaseModel):
    doc_id: str
    title: str
    source: str
    published: str | None


class DocumentInfo(DocumentMeta):
    length: int = Field(description="Characters in the document's cleaned text.")
    uri: str = Field(description="The document as an MCP resource (ragqa://documents/{doc_id}).")


class DocumentPage(BaseModel):
    documents: list[DocumentInfo]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: the last.")


class DocumentSlice(DocumentMeta):
    start: int = Field(description="Offset of the first character returned.")
    end: int = Field(description="Offset after the last character returned.")
    length: int = Field(description="Length of the whole document text.")
    text: str = Field(description="document.text[start:end]")


def build_mcp(
    current: Callable[[], Answerer | None],
    not_ready: Callable[[], str],
    slots: SearchSlots,
    on_busy: Callable[[], None] = lambda: None,
) -> MCPServer:
    """The MCP server over whichever answerer ``current`` returns at call time (so a reload of
    the index is seen by the next call); ``not_ready`` says why there is none. An `ask` holds one
    of ``slots`` (the HTTP API's own, on the server) and is refused when none is free."""
    server: MCPServer = MCPServer(name="ragqa", instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(readOnlyHint=True, openWorldHint=False)

    def answerer() -> Answerer:
        found = current()
        if found is None:
            raise ToolError(f"index not ready: {not_ready()}")
        return found

    @server.tool(name="ask", description=ASK, annotations=read_only)
    def ask(
        question: Annotated[str, Field(description="The question, in plain language.")],
        top_k: Annotated[int, Field(description=f"Passages to return, 1 to {MAX_TOP_K}.")] = 5,
        filters: Annotated[
            Filters | None, Field(description="Optional: only sources or dates matching.")
        ] = None,
    ) -> Annotated[CallToolResult, AskResponse]:
        try:
            request = AskRequest(question=question, top_k=top_k, filters=filters)
        except ValidationError as e:
            raise ToolError(_invalid(e)) from None
        current = answerer()
        if not slots.try_acquire():
            on_busy()
            raise ToolError(
                f"server busy: {slots.limit} searches already in progress; retry shortly"
            )
        try:
            response = current.ask(request)
        except RagqaError as e:
            raise ToolError(str(e)) from None
        finally:
            slots.release()
        text = render_answer(response, current.retriever.reader.document, detail=True).text
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=response.model_dump(mode="json"),
        )

    @server.tool(name="get_document", description=GET_DOCUMENT, annotations=read_only)
    def get_document(
        doc_id: Annotated[str, Field(description="A doc_id from an ask result.")],
        start: Annotated[int | None, Field(description="First offset (default 0).", ge=0)] = None,
        end: Annotated[
            int | None, Field(description="End offset (default: the end).", ge=0)
        ] = None,
    ) -> DocumentSlice:
        row = answerer().retriever.reader.document(doc_id)
        if row is None:
            raise ToolError(f"doc_id: no document with doc_id {doc_id!r}")
        text: str = row["text"]
        first = 0 if start is None else start
        last = len(text) if end is None else end
        if first > len(text) or last > len(text) or first > last:
            raise ToolError(
                f"start/end: [{first}, {last}) is not a slice of this document "
                f"(its text has {len(text)} characters)"
            )
        return DocumentSlice(
            doc_id=row["doc_id"],
            title=row["title"],
            source=safe_source(row["source"]),
            published=row["published"],
            start=first,
            end=last,
            length=len(text),
            text=text[first:last],
        )

    @server.tool(name="list_documents", description=LIST_DOCUMENTS, annotations=read_only)
    def list_documents(
        filters: Annotated[
            Filters | None, Field(description="Optional: only sources or dates matching.")
        ] = None,
        title_contains: Annotated[
            str | None, Field(description="Optional: case-insensitive part of the title.")
        ] = None,
        limit: Annotated[
            int, Field(description=f"Documents per page, 1 to {MAX_PAGE}.", ge=1, le=MAX_PAGE)
        ] = 20,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page; omit for the first.")
        ] = None,
    ) -> DocumentPage:
        reader = answerer().retriever.reader
        rows = reader.documents(filters, title_contains, after=cursor, limit=limit + 1)
        listed = [
            DocumentInfo(
                doc_id=r["doc_id"],
                title=r["title"],
                source=safe_source(r["source"]),
                published=r["published"],
                length=r["length"],
                uri=document_uri(r["doc_id"]),
            )
            for r in rows[:limit]
        ]
        # No total: counting a filtered million documents scans them all (1.3-2 s), a page does not.
        more = len(rows) > limit
        return DocumentPage(documents=listed, next_cursor=listed[-1].doc_id if more else None)

    @server.resource(
        DOCUMENT_URI,
        name="document",
        description="One document's metadata and cleaned text (citation offsets index into it).",
        mime_type="application/json",
        security=ResourceSecurity(exempt_params={"doc_id"}),  # an id looked up, never a path
    )
    def document_resource(doc_id: str) -> str:
        row = answerer().retriever.reader.document(doc_id)
        if row is None:
            raise ResourceNotFoundError(f"no document with doc_id {doc_id!r}")
        return DocumentResponse(
            doc_id=row["doc_id"],
            title=row["title"],
            source=safe_source(row["source"]),
            published=row["published"],
            text=row["text"],
        ).model_dump_json()

    return server


def document_uri(doc_id: str) -> str:
    return f"ragqa://documents/{quote(doc_id, safe='')}"


def _invalid(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "arguments"
    return f"{field}: {first['msg']}"


class Guarded:
    """The MCP HTTP endpoint behind the API's own key check and rate limit."""

    def __init__(self, app: ASGIApp, checks: list[Callable[[Request], Any]]) -> None:
        self.app = app
        self.checks = checks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            from fastapi import HTTPException

            request = Request(scope, receive)
            for check in self.checks:
                try:
                    await check(request)
                except HTTPException as e:
                    response = error_response(e.status_code, str(e.detail))
                    response.headers.update(e.headers or {})
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
