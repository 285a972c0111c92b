"""HTTP routes (/api/ask, /api/ask/stream, /api/health, /api/documents, /widget.js) with the
Gradio pages mounted.

One process serves the chat page (/), the compact page the widget frames (/embed), the widget
script and the API. Errors are JSON bodies {"error": "..."} with a 4xx/5xx status, never a
stack trace. Guards, in order: body size (413), bearer token (401), per-client rate (429),
question checks in the pipeline (400). Which sites may frame the pages or call the API from a
browser comes from one allow-list, `allowed_origins` (CSP frame-ancestors and CORS).

Documents are added and removed from the web only when an admin token is set, through
`qa.web.library.DocumentLibrary`, the one code path behind these routes and the page's admin panel.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.config import Settings
from qa.errors import (
    AccessError,
    BusyError,
    InputError,
    QAError,
    StoreError,
)
from qa.query.pipeline import Pipeline
from qa.records import Answer
from qa.web.concurrency import (
    ClientGone,
    result_in_thread,
    unless_gone,
)
from qa.web.events import AnswerEvents
from qa.web.guards import ApiError, Guards, bearer, status_of
from qa.web.library import (
    MAX_UPLOAD_FILES,
    DocumentLibrary,
    DocumentList,
    RemoveResult,
    UploadResult,
    too_large,
)
from qa.web.openai_routes import PREFIX as OPENAI_PREFIX
from qa.web.openai_routes import build_openai_router
from qa.web.openai_routes import error_body as openai_error_body
from qa.web.streaming import answer_stream

API_PREFIX = "/api/"
DOCUMENTS_ROUTE = "/api/documents"


class Turn(BaseModel):
    role: str = Field(description="user or assistant")
    content: str


class AskRequest(BaseModel):
    question: str = Field(description="The question, in any language.")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first.")
    documents: list[str] = Field(
        default_factory=list,
        description="Answer only from these documents (ids as /api/documents lists them); empty: all.",
    )


class ErrorBody(BaseModel):
    error: str = Field(description="One plain sentence.")


class _FileTooLarge(MultiPartException):
    def __init__(self, name: str, size: int) -> None:
        super().__init__(name)
        self.name = name
        self.size = size


class _LimitedUpload(MultiPartParser):
    """Starlette's multipart parser, refusing a file part as soon as it passes `max_bytes`,
    so an oversize upload is cut off instead of saved whole."""

    def __init__(self, request: Request, stream: Any, max_bytes: int) -> None:
        super().__init__(request.headers, stream, max_files=MAX_UPLOAD_FILES, max_fields=10)
        self.max_bytes = max_bytes
        self._sizes: dict[int, int] = {}

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is not None:
            size = self._sizes.get(id(part), 0) + end - start
            self._sizes[id(part)] = size
            if size > self.max_bytes:
                raise _FileTooLarge(part.file.filename or "The file", size)
        super().on_part_data(data, start, end)


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more .md, .txt, .pdf, .docx or .html files.",
                        },
                        "replace": {
                            "type": "boolean",
                            "description": "Replace documents of the same name not uploaded here.",
                        },
                    },
                }
            }
        },
    }
}
ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "A bad file: empty, binary, undecodable, unsupported type or name; nothing was changed.",
        401: "A missing or wrong admin token.",
        403: "Changes are turned off: QA_ADMIN_TOKEN is not set.",
        404: "No such document.",
        409: "Another ingest is writing to the index, or the name is taken by a document not uploaded here.",
        413: "A file is over QA_MAX_FILE_MB.",
    }.items()
}


class BodyLimit:
    """ASGI middleware: a request body under `prefix` larger than `limit` bytes gets 413 before
    parsing, in that door's error shape (`shape` turns the sentence into the JSON body).

    Uploads (POST /api/documents) are exempt: that route limits each file to QA_MAX_FILE_MB."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        prefix: str = API_PREFIX,
        setting: str = "QA_MAX_REQUEST_BYTES",
        shape: Callable[[str], dict] = lambda message: {"error": message},
    ) -> None:
        self.app = app
        self.limit = limit
        self.prefix = prefix
        self.setting = setting
        self.shape = shape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = scope["type"] == "http" and (scope["method"], scope["path"]) == ("POST", DOCUMENTS_ROUTE)
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix) or exempt:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._too_large(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than {self.limit} bytes ({self.setting})."
        await JSONResponse(self.shape(message), status_code=413)(scope, receive, send)


NOT_ROUTED = {
    401: "Sign in first: this server needs its API token (QA_API_TOKEN).",
    404: "There is no such page.",
    405: "That method is not allowed here.",
}


class OneCorsPolicy:
    """ASGI middleware, outermost: one CORS answer for every route, the API's, Gradio's and any
    added later. Gradio answers cross-site requests itself, echoing any Origin with
    `Access-Control-Allow-Credentials: true`; here an Origin outside QA_ALLOWED_ORIGINS gets no
    Access-Control-Allow-* header at all, and credentials are never allowed (the API takes
    bearer tokens, not cookies)."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.any = "*" in origins
        self.origins = {origin.rstrip("/").encode() for origin in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin", b"").rstrip(b"/")
        allowed = self.any or origin in self.origins

        async def send_checked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    lowered = name.lower()
                    if lowered == b"access-control-allow-credentials":
                        continue
                    if lowered.startswith(b"access-control-") and value != b"*" and not allowed:
                        continue
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_checked)


class RoutingErrors:
    """ASGI middleware: a 404 or 405 in JSON from anywhere in the app, including the mounted
    Gradio apps and their /gradio_api routes (which answer `{"detail": ...}` themselves), leaves
    as `{"error": "one sentence"}` like every other error of the API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replacing: dict[str, Any] = {}

        async def send_json_error(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                json_body = headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] in NOT_ROUTED and json_body:
                    replacing["start"] = message
                    return
            elif message["type"] == "http.response.body" and "start" in replacing:
                replacing["body"] = replacing.get("body", b"") + message.get("body", b"")
                if message.get("more_body", False):
                    return
                start, body = replacing.pop("start"), replacing.pop("body")
                if not _is_error_body(body):  # our own routes' 404s already say what is missing
                    body = json.dumps({"error": NOT_ROUTED[start["status"]]}).encode()
                kept = [h for h in start.get("headers", []) if h[0].lower() != b"content-length"]
                await send({**start, "headers": [*kept, (b"content-length", str(len(body)).encode())]})
                message = {"type": "http.response.body", "body": body}
            await send(message)

        await self.app(scope, receive, send_json_error)


def _is_error_body(body: bytes) -> bool:
    try:
        return "error" in json.loads(body)
    except (ValueError, TypeError):
        return False


class FrameAncestors:
    """ASGI middleware: every response says which sites may frame it (CSP frame-ancestors)."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        sources = "*" if "*" in origins else " ".join(["'self'", *origins])
        self.header = (b"content-security-policy", f"frame-ancestors {sources}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != self.header[0]]
                message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, send_with_header)


def build_api(
    pipeline: Pipeline,
    settings: Settings | None = None,
    library: DocumentLibrary | None = None,
    guards: Guards | None = None,
) -> FastAPI:
    """The FastAPI app with its routes (ours and the OpenAI-compatible /v1) and guards; no UI,
    not started. Pass `guards` to share the token, rate and slots with other doors (MCP)."""
    settings = settings or pipeline.settings
    library = library or DocumentLibrary(pipeline, settings)
    guards = guards or Guards(settings)
    slots = guards.slots
    health_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qa-health")
    delay_s = settings.stream_delay_ms / 1000

    app = FastAPIOffline(  # Swagger UI and ReDoc served from the package: /docs works offline
        title="qa",
        description=(
            "Answers questions about the ingested documents with paragraph-exact citations. "
            'Errors are JSON bodies {"error": "..."}.'
        ),
        version="1",
    )

    @app.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ClientGone)
    async def gone(request: Request, exc: ClientGone) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": 'The request body must be JSON like {"question": "..."}.'}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = NOT_ROUTED.get(exc.status_code, "The request could not be served.")
        return JSONResponse({"error": message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "Something went wrong while answering."}, status_code=500)

    def token_guard(request: Request) -> None:
        """The API token, when one is set (401)."""
        guards.check_token(request.headers)

    def admin_guard(request: Request) -> None:
        """Changes need the admin token: 403 when none is set, 401 when it is wrong."""
        library.authorise(bearer(request.headers))

    def guard(request: Request) -> None:
        """Token first (401), then the per-client rate (429)."""
        guards.check_question(request.headers, request.client.host if request.client else "unknown")

    @app.get("/api/health", summary="Is the index loaded, and with which embedder")
    async def health() -> dict:
        # Its own small thread pool and a time limit: never queued behind answers or a hung index.
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(health_threads, pipeline.health), timeout=settings.answer_timeout_s
            )
        except TimeoutError:
            raise StoreError("The index did not answer in time; try again shortly.") from None

    @app.post("/api/ask", summary="Answer a question, with citations", dependencies=[Depends(guard)])
    async def ask(body: AskRequest, request: Request) -> dict:
        history = [turn.model_dump() for turn in body.history]

        async def answer() -> dict:
            async with slots.hold():
                found = await result_in_thread(
                    lambda: pipeline.ask(body.question, history, body.documents), settings.answer_timeout_s
                )
                return found.as_json()

        return await unless_gone(request.receive, answer)

    @app.post(
        "/api/ask/stream",
        summary="Answer a question as server-sent events: token events, then one done event",
        dependencies=[Depends(guard)],
        response_class=StreamingResponse,
    )
    async def ask_stream(body: AskRequest) -> Response:
        history = [turn.model_dump() for turn in body.history]
        return AnswerEvents(
            slots,
            lambda: answer_stream(pipeline, body.question, history, delay_s, body.documents),
            settings.answer_timeout_s,
            ApiEvents(),
        )

    @app.get(
        DOCUMENTS_ROUTE,
        summary="The documents in the collection, with their chunk counts and ingest times",
        dependencies=[Depends(token_guard)],
        response_model=DocumentList,
        responses={401: ERRORS[401]},
    )
    def list_documents() -> DocumentList:
        documents = library.documents()
        return DocumentList(
            documents=[library.info(doc) for doc in documents], chunks=sum(d.chunks for d in documents)
        )

    @app.post(
        DOCUMENTS_ROUTE,
        summary="Upload and ingest files (admin token); all are added or none",
        description=(
            "Multipart form with one or more `files`. Each is saved under the upload folder by its "
            "plain name and ingested with the same checks as `qa ingest`; a file with the name of an "
            "earlier upload replaces it, one named like a document ingested otherwise only with the "
            "form field replace=true (else 409). Needs `Authorization: Bearer <QA_ADMIN_TOKEN>`."
        ),
        dependencies=[Depends(admin_guard)],
        status_code=201,
        response_model=UploadResult,
        responses={code: ERRORS[code] for code in (400, 401, 403, 409, 413)},
        openapi_extra=UPLOAD_BODY,
    )
    async def upload_documents(request: Request) -> UploadResult:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise InputError("Send the files as multipart/form-data, in a field named 'files'.")
        try:
            async with aclosing(request.stream()) as stream:
                form = await _LimitedUpload(request, stream, library.max_bytes).parse()
        except _FileTooLarge as exc:
            raise too_large(exc.name, exc.size, library.max_bytes) from None
        except MultiPartException as exc:
            raise InputError(f"The upload could not be read: {exc.message}") from None
        try:
            files = [(item.filename, item.file) for item in form.getlist("files") if hasattr(item, "file")]
            replace = str(form.get("replace", "")).strip().lower() in ("true", "1", "yes")
            return await run_in_threadpool(library.add, files, replace)
        finally:
            await form.close()

    @app.delete(
        DOCUMENTS_ROUTE + "/{doc_id:path}",
        summary="Remove a document from the collection (admin token); an uploaded file is deleted too",
        dependencies=[Depends(admin_guard)],
        response_model=RemoveResult,
        responses={code: ERRORS[code] for code in (401, 403, 404, 409)},
    )
    def delete_document(doc_id: str) -> RemoveResult:
        return library.remove(doc_id)

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        script = resources.files("qa.web").joinpath("static/widget.js").read_text(encoding="utf-8")
        return Response(
            script,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(FrameAncestors, origins=settings.allowed_origins)
    app.include_router(build_openai_router(pipeline, token_guard, guard, slots, settings))
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_chat_request_bytes,
        prefix=OPENAI_PREFIX + "/",
        setting="QA_MAX_CHAT_REQUEST_BYTES",
        shape=lambda message: openai_error_body(413, message),
    )
    return app


def _error_response(exc: BaseException) -> JSONResponse:
    """The JSON error for a refusal raised while answering, before any byte was sent."""
    headers: dict[str, str] = {}
    if isinstance(exc, BusyError):
        status, headers = 503, {"Retry-After": str(exc.retry_after_s)}
    elif isinstance(exc, ClientGone):
        status = 499  # nobody reads it: the client has gone
    elif isinstance(exc, QAError):
        status = status_of(exc)
        if isinstance(exc, AccessError):
            headers = {"WWW-Authenticate": "Bearer"}
    else:
        return JSONResponse({"error": "Something went wrong while answering."}, status_code=500)
    return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)


class ApiEvents:
    """/api/ask/stream's events: `token` pieces, one `done` with the answer JSON, or `error`."""

    closing = ""

    def event(self, item: str | Answer) -> str:
        if isinstance(item, Answer):
            return _event({"type": "done", **item.as_json()})
        return _event({"type": "token", "text": item})

    def error_event(self, message: str) -> str:
        return _event({"type": "error", "error": message})

    def error_response(self, exc: BaseException) -> Response:
        return _error_response(exc)


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
