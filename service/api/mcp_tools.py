"""The MCP server: `ask` and `get_document` as tools, on the official MCP Python SDK.

Two transports share these tools: streamable HTTP at ``/mcp`` on the running service (same index,
reloads, API keys, rate limit, metrics and request log as the HTTP API) and stdio (``ragqa mcp``),
for clients that start a local process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from indexer.errors import RagqaError
from service.api.errors import error_response
from service.qa.answer import Answerer
from service.render import render_answer
from service.schemas import MAX_TOP_K, AskRequest, AskResponse, Filters, safe_source

INSTRUCTIONS = (
    "Question answering over a news corpus with exact citations. Call `ask` with a question; "
    "quote the answer with its citations (doc_id and start/end offsets into the document's "
    "cleaned text). Call `get_document` to read around a citation. When `ask` finds no answer, "
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


class DocumentSlice(BaseModel):
    doc_id: str
    title: str
    source: str
    published: str | None
    start: int = Field(description="Offset of the first character returned.")
    end: int = Field(description="Offset after the last character returned.")
    length: int = Field(description="Length of the whole document text.")
    text: str = Field(description="document.text[start:end]")


def build_mcp(current: Callable[[], Answerer | None], not_ready: Callable[[], str]) -> MCPServer:
    """The MCP server over whichever answerer ``current`` returns at call time (so a reload of
    the index is seen by the next call); ``not_ready`` says why there is none."""
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
        try:
            response = current.ask(request)
        except RagqaError as e:
            raise ToolError(str(e)) from None
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

    return server


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
