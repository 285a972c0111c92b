"""The collection as a Model Context Protocol server (the official `mcp` SDK), for desktop
assistants and coding agents: tools `ask`, `retrieve` and `list_documents`.

`ask` goes through the same pipeline and returns the same answer JSON as /api/ask (structured
content), with the answer text, its [n] markers and a sources list as the text content. Tool
descriptions name the collection's documents, refreshed on every listing, so an agent knows
when to call them. Served over stdio (`qa mcp`) and over streamable HTTP at /mcp on the app
(`mount`), behind the API token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, Tool
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.errors import QAError
from qa.query.pipeline import Pipeline
from qa.web.guards import TOKEN_REQUIRED, Guards
from qa.web.openai_routes import sources_list

NAME = "qa"
PATH = "/mcp"
TITLES_SHOWN = 20  # documents named in a tool description; list_documents has them all
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class Turn(BaseModel):
    role: str = Field(description="user or assistant")
    content: str


Documents = Annotated[
    list[str] | None,
    Field(description="Answer only from these documents (ids as list_documents gives them); all if omitted."),
]


class QAServer(MCPServer):
    """MCPServer whose tool descriptions say what the collection holds at the time of listing."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__(NAME, instructions=_instructions(pipeline), log_level="WARNING")
        self.pipeline = pipeline

    async def list_tools(self) -> list[Tool]:
        holds = _holdings(self.pipeline)
        return [
            tool.model_copy(update={"description": f"{tool.description}\n\n{holds}"})
            for tool in await super().list_tools()
        ]


def build_mcp(pipeline: Pipeline) -> QAServer:
    """The MCP server over `pipeline`; not started (`run("stdio")`, or `mount` on the app)."""
    server = QAServer(pipeline)

    @server.tool(
        title="Ask the documents",
        description=(
            "Answer a question from the document collection, in Chinese or English. Every sentence "
            "of the answer carries an [n] marker whose citation names the document, section, "
            "paragraph (and page); when the documents do not say, the answer is a refusal "
            "(refused: true) that states no fact. Pass earlier turns as history for follow-ups."
        ),
    )
    def ask(
        question: Annotated[str, Field(description="The question, as a user would type it.")],
        history: Annotated[list[Turn] | None, Field(description="Earlier turns, oldest first.")] = None,
        documents: Documents = None,
    ) -> CallToolResult:
        turns = [turn.model_dump() for turn in history or ()]
        answer = _call(lambda: pipeline.ask(question, turns, documents=documents or ()))
        return CallToolResult(
            content=[TextContent(type="text", text=answer.answer + sources_list(answer))],
            structured_content=answer.as_json(),
        )

    @server.tool(
        title="Search the documents",
        description=(
            "The passages of the collection that best match a question, best first, each with its "
            "document, section, paragraph numbers and a support score (0..1)."
        ),
    )
    def retrieve(
        question: Annotated[str, Field(description="What to look for.")],
        k: Annotated[int | None, Field(description="How many passages (default 5).", ge=1, le=50)] = None,
        documents: Documents = None,
    ) -> CallToolResult:
        found = _call(lambda: pipeline.retrieve(question, k, documents=documents or ()))
        text = "\n\n".join(
            f"{result.rank}. [{result.score:.2f}] {result.chunk.location()}\n{result.chunk.text}"
            for result in found.results
        )
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=found.as_json()
        )

    @server.tool(
        title="List the documents",
        description="The documents in the collection: id (for the documents argument), title, chunks.",
    )
    def list_documents() -> CallToolResult:
        documents = [
            {"doc_id": doc.doc_id, "title": doc.title, "chunks": doc.chunks, "ingested_at": doc.ingested_at}
            for doc in _call(pipeline.documents)
        ]
        text = "\n".join(f"{doc['doc_id']}\t{doc['title']}\t{doc['chunks']} chunks" for doc in documents)
        return CallToolResult(
            content=[TextContent(type="text", text=text or "The collection is empty.")],
            structured_content={"documents": documents},
        )

    return server


def _call(work: Any) -> Any:
    """A refusal of ours (bad question, unknown document) reaches the agent as one sentence."""
    try:
        return work()
    except QAError as exc:
        raise ToolError(str(exc)) from None


def _titles(pipeline: Pipeline) -> Sequence[tuple[str, str]]:
    try:
        return [(doc.doc_id, doc.title) for doc in pipeline.documents()]
    except QAError:
        return []


def _holdings(pipeline: Pipeline) -> str:
    """'The collection holds 3 documents: 《title》 (id), ...' for the tool descriptions."""
    titles = _titles(pipeline)
    if not titles:
        return "The collection is empty."
    shown = "; ".join(f"《{title}》 (id {doc_id})" for doc_id, title in titles[:TITLES_SHOWN])
    more = f"; and {len(titles) - TITLES_SHOWN} more (list_documents)" if len(titles) > TITLES_SHOWN else ""
    return f"The collection holds {len(titles)} document(s): {shown}{more}."


def _instructions(pipeline: Pipeline) -> str:
    return (
        "Answers questions about a document collection with paragraph-exact citations. "
        "Call `ask` for an answer, `retrieve` for passages, `list_documents` for what is there. "
        + _holdings(pipeline)
    )


class _TokenGate:
    """ASGI wrapper: the MCP endpoint answers only requests that carry the API token."""

    def __init__(self, app: ASGIApp, guards: Guards) -> None:
        self.app = app
        self.guards = guards

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        if scope["type"] == "http" and not self.guards.allows(headers):
            response = JSONResponse(
                {"error": TOKEN_REQUIRED}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def mount(app: Starlette, pipeline: Pipeline, guards: Guards, host: str) -> None:
    """Serve the MCP server over streamable HTTP at /mcp on `app`, behind the API token.

    The SDK's session manager needs a running task group: it is started in the app's lifespan,
    around whatever lifespan the app already has. Stateless: every request stands alone, so
    any worker can answer it. Bound to a local address, Host and Origin headers are checked
    (DNS rebinding), as the SDK does by default.
    """
    server = build_mcp(pipeline)
    if host in LOCAL_HOSTS:
        security = TransportSecuritySettings(
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    else:
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    # Builds the session manager; its Starlette app is not used: the endpoint goes on ours,
    # before the Gradio page mounted at / could claim the path.
    server.streamable_http_app(stateless_http=True, transport_security=security, host=host)
    endpoint = StreamableHTTPASGIApp(server.session_manager)
    app.router.routes.insert(0, Route(PATH, endpoint=_TokenGate(endpoint, guards)))
    outer = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with server.session_manager.run(), outer(application) as state:
            yield state

    app.router.lifespan_context = lifespan
