"""HTTP routes (/api/ask, /api/ask/stream, /api/health) with the Gradio page mounted at /.

One process serves the page and the API. Errors are JSON bodies {"error": "..."} with a
4xx/5xx status, never a stack trace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from qa.config import Settings
from qa.errors import InputError, QAError, StoreError
from qa.pipeline import Pipeline


class Turn(BaseModel):
    role: str
    content: str


class AskRequest(BaseModel):
    question: str
    history: list[Turn] = Field(default_factory=list)


def _status(exc: QAError) -> int:
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, StoreError):
        return 503
    return 500


def build_api(pipeline: Pipeline) -> FastAPI:
    """The FastAPI app with its routes; no UI, not started."""
    app = FastAPI(title="qa", description="Answers with paragraph-exact citations.")

    @app.exception_handler(QAError)
    async def qa_error(request: Request, exc: QAError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=_status(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": 'The request body must be JSON like {"question": "..."}.'}, status_code=422
        )

    @app.get("/api/health")
    def health() -> dict:
        return pipeline.health()

    @app.post("/api/ask")
    def ask(request: AskRequest) -> dict:
        history = [turn.model_dump() for turn in request.history]
        return pipeline.ask(request.question, history).as_json()

    @app.post("/api/ask/stream")
    def ask_stream(request: AskRequest) -> StreamingResponse:
        history = [turn.model_dump() for turn in request.history]
        answer = pipeline.ask(request.question, history)  # errors surface before streaming

        def events() -> Iterator[str]:
            for piece in answer.answer.splitlines(keepends=True):
                yield _event({"type": "token", "text": piece})
            yield _event({"type": "done", **answer.as_json()})

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def build_app(pipeline: Pipeline) -> FastAPI:
    """API plus the chat page, ready for any ASGI server; nothing is launched."""
    import gradio as gr

    from qa.ui import build_ui

    app = build_api(pipeline)
    return gr.mount_gradio_app(app, build_ui(pipeline), path="/")


def serve(settings: Settings) -> None:
    import uvicorn

    pipeline = Pipeline(settings)
    pipeline.health()  # fail now, in one sentence, if the index is missing or mismatched
    print(f"Serving on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(build_app(pipeline), host=settings.host, port=settings.port, log_level="warning")
