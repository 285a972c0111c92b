"""The whole web app: the HTTP API (ours and the OpenAI-compatible /v1), the MCP server at /mcp,
the chat page (/) and the widget's compact page (/embed) mounted on it, and `serve`, which runs
it. The one module that knows both the API and the UI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from qa.config import Settings
from qa.query.pipeline import Pipeline
from qa.text.terms import load_whole_dictionary
from qa.web import mcp_server
from qa.web.api import OneCorsPolicy, RoutingErrors, build_api
from qa.web.guards import Guards
from qa.web.library import DocumentLibrary, same_secret


def build_app(pipeline: Pipeline, settings: Settings | None = None) -> FastAPI:
    """API, widget and both chat pages, ready for any ASGI server; nothing is launched."""
    import gradio as gr

    from qa.web.ui import CSS, HEAD, build_ui, theme  # Gradio is heavy: only when the app is built

    settings = settings or pipeline.settings
    library = DocumentLibrary(pipeline, settings)
    guards = Guards(settings)  # one token, rate limit and slots for /api, /v1 and /mcp
    app = build_api(pipeline, settings, library, guards)
    mcp_server.mount(app, pipeline, guards, settings.host)
    common: dict[str, Any] = {
        "footer_links": [],
        "ssr_mode": False,
        "theme": theme(),
        "css": CSS,
        "head": HEAD,
        "show_error": False,
        # Gradio refuses bigger files in the browser, before sending them, with its own notice. It
        # counts in MiB, so the number it shows is QA_MAX_FILE_MB; the panel checks the exact limit.
        "max_file_size": int(settings.max_file_mb * 1024 * 1024),
    }
    token = settings.api_token.get_secret_value()
    if token:  # one door: the pages and every /gradio_api route need the same token as /api/*
        common["auth"] = lambda _user, password: same_secret(password or "", token)
        common["auth_message"] = "Enter any name and this server's API token (QA_API_TOKEN)."
    gr.mount_gradio_app(app, build_ui(pipeline, settings, compact=True), path="/embed", **common)
    app = gr.mount_gradio_app(app, build_ui(pipeline, settings, library=library), path="/", **common)
    app.add_middleware(RoutingErrors)  # covers the Gradio mounts' 401/404/405 too
    app.add_middleware(OneCorsPolicy, origins=settings.allowed_origins)  # outermost
    return app


# Not dev-set questions: the warm-up must not pre-answer what a benchmark then times.
WARM_UP_QUESTIONS = ("这篇文章的作者是谁？", "Who wrote this article?")


def warm_up(pipeline: Pipeline, app: Any, settings: Settings) -> None:
    """Pay now what the first question would pay: the embedder's model, the index and the keyword
    index opened, jieba's dictionary (whole: a cold `qa ask` loads only the words its question
    and passages need, so the first questions here would load theirs), one query embedded in each
    language, and FastAPI's first request (the first question goes through the app's own route,
    warm_up_http). serve() calls this before it listens, so /api/health says ok only when the
    first answer is as fast as the tenth. With an LLM configured nothing calls it at start-up:
    retrieval alone loads the rest."""
    load_whole_dictionary()
    if pipeline.chat is not None:
        for question in WARM_UP_QUESTIONS:
            pipeline.retrieve(question)
        return
    warm_up_http(app, settings)
    for question in WARM_UP_QUESTIONS[1:]:
        pipeline.ask(question)


def warm_up_http(app: Any, settings: Settings) -> int:
    """Ask the app itself the first warm-up question, in process, through its own /api/ask route:
    the first request through FastAPI pays once for its validation, serialisation and middleware
    (about 20 ms over the answer), which asking the pipeline directly does not reach. Under a client name of
    its own, so it takes nothing from a real client's rate limit; with the API token when one is
    set. Nothing listens yet, and the answer is dropped; returns its HTTP status."""
    import asyncio
    import json

    body = json.dumps({"question": WARM_UP_QUESTIONS[0]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    token = settings.api_token.get_secret_value()
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/ask",
        "raw_path": b"/api/ask",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("warm-up", 0),
        "server": ("localhost", 0),
    }

    status = 0

    async def ask() -> None:
        delivered = asyncio.Event()

        async def receive() -> dict:
            if not delivered.is_set():
                delivered.set()
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never hangs up
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)

    asyncio.run(ask())
    return status


MALLOC_ARENAS = 2  # glibc's M_ARENA_MAX for the server process


def few_malloc_arenas() -> None:
    """Every answer runs in a thread of its own, and glibc gives threads up to 8 malloc arenas a
    core, each keeping its freed pages: 100 upload/remove cycles grew the server's RSS 12% with
    the default and 2-4% with two arenas (bench/soak.py --cycles 100). Like MALLOC_ARENA_MAX=2,
    set before the server starts its threads; nothing happens on another C library."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, MALLOC_ARENAS)  # -8 is M_ARENA_MAX in glibc's malloc.h
    except (OSError, AttributeError):
        pass


def serve(settings: Settings) -> None:
    import uvicorn

    few_malloc_arenas()
    pipeline = Pipeline(settings)
    pipeline.health()  # fail now, in one sentence, if the index is missing or mismatched
    app = build_app(pipeline)
    warm_up(pipeline, app, settings)
    print(f"Serving on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
