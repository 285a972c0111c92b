"""OpenAI-compatible routes, so chat front-ends and SDKs that speak OpenAI's chat completions
(the `openai` SDK, LangChain's ChatOpenAI, Open WebUI, ...) can talk to the collection.

GET /v1/models lists one model, the collection. POST /v1/chat/completions answers the last user
message with the earlier turns as history, through the same pipeline and answer JSON as
/api/ask: the reply text keeps its [n] markers and ends with a short sources list any client
shows, and the machine-readable citations ride along as `citations` (on the message, and on
the last chunk of a stream). Errors are OpenAI's error objects; parameters we have no use for
(temperature, tools, n, ...) are accepted and ignored.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from qa.config import Settings
from qa.errors import BusyError, InputError, QAError
from qa.query.answering import language_of
from qa.query.pipeline import Pipeline
from qa.records import Answer
from qa.text.tokens import count_tokens
from qa.web.concurrency import AnswerSlots, ClientGone, result_in_thread, unless_gone
from qa.web.events import AnswerEvents
from qa.web.guards import ApiError, status_of
from qa.web.streaming import answer_stream

MODEL = "qa"
OWNER = "qa"
PREFIX = "/v1"
TEXT_PARTS = ("text", "input_text")
SOURCES_HEADING = {"zh": "来源：", "en": "Sources:"}
# The sources list this module appends, found again when a client sends the reply back as history.
SOURCES_BLOCK = re.compile(
    r"\n\n(?:" + "|".join(map(re.escape, SOURCES_HEADING.values())) + r")\n(?:- \[\d+\] [^\n]*(?:\n|$))+\Z"
)
ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("requests", "rate_limit_exceeded"),
    499: ("invalid_request_error", "client_closed_request"),
    503: ("server_error", "unavailable"),
    504: ("server_error", "timeout"),
}

Guard = Callable[[Request], None]


class ChatMessage(BaseModel):
    """One message as OpenAI clients send it; content may be a string or a list of parts."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            texts = [part.get("text", "") for part in self.content if part.get("type") in TEXT_PARTS]
            return "".join(str(text) for text in texts)
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields of a chat completion request we use; every other one is accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    documents: list[str] | None = None

    def scope(self) -> list[str]:
        """Document ids to answer from: `documents` in the body, or in `metadata` (where OpenAI
        allows only strings, as a comma-separated string); none means the whole collection."""
        if self.documents:
            return self.documents
        given = (self.metadata or {}).get("documents") or []
        if isinstance(given, str):
            given = given.split(",")
        if not isinstance(given, list):
            raise InputError('metadata.documents must be a list of document ids or "id1,id2".')
        return [str(doc_id).strip() for doc_id in given]


class OpenAIError(Exception):
    """A refusal of this edge, sent as OpenAI's error object with `status`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def error_body(status: int, message: str) -> dict:
    kind, code = ERROR_KINDS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def sources_list(answer: Answer) -> str:
    """'来源：' or 'Sources:' and one '- [n] document · section · ¶n · page' line a citation."""
    if not answer.citations:
        return ""
    heading = SOURCES_HEADING["en" if language_of(answer.question) == "en" else "zh"]
    lines = [f"- [{citation.n}] {citation.chunk.location()}" for citation in answer.citations]
    return "\n\n" + heading + "\n" + "\n".join(lines)


def strip_sources(text: str) -> str:
    """A reply of ours without the sources list we appended, as history or for scoring."""
    return SOURCES_BLOCK.sub("", text)


def riders(answer: Answer) -> dict:
    """What rides along the reply for programs: the `qa ask --json` citations, whether it is a
    refusal, the standalone question a follow-up was rewritten into, and the scope."""
    extra = {"citations": [citation.as_json() for citation in answer.citations], "refused": answer.refused}
    if answer.standalone_question:
        extra["standalone_question"] = answer.standalone_question
    if answer.documents:
        extra["documents"] = list(answer.documents)
    return extra


def conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[dict]]:
    """(question, history): the last message must be the user's; earlier user and assistant
    turns are the history (system, developer and tool messages carry nothing we use)."""
    if not messages or messages[-1].role != "user":
        raise InputError("The last message must be the user's question (role 'user').")
    history = [
        {"role": message.role, "content": strip_sources(message.text())}
        for message in messages[:-1]
        if message.role in ("user", "assistant") and message.text().strip()
    ]
    return messages[-1].text(), history


def usage(messages: Sequence[ChatMessage], content: str) -> dict:
    """Token counts in cl100k, the encoding our chunking budgets use."""
    prompt = sum(count_tokens(message.text()) for message in messages)
    completion = count_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def build_openai_router(
    pipeline: Pipeline,
    token_guard: Guard,
    question_guard: Guard,
    slots: AnswerSlots,
    settings: Settings,
) -> APIRouter:
    """/v1/models and /v1/chat/completions, behind the API's own token, rate limit and slots."""
    router = APIRouter(prefix=PREFIX, tags=["OpenAI-compatible"])
    delay_s = settings.stream_delay_ms / 1000

    def model_card() -> dict:
        return {"id": MODEL, "object": "model", "created": 0, "owned_by": OWNER}

    @router.get("/models", summary="The one model: this collection")
    def models(request: Request) -> JSONResponse:
        try:
            token_guard(request)
        except Exception as exc:
            return _as_openai_error(exc)
        return JSONResponse({"object": "list", "data": [model_card()]})

    @router.get("/models/{model}", summary="The model, if it is this collection")
    def model(request: Request, model: str) -> JSONResponse:
        try:
            token_guard(request)
            _check_model(model)
        except Exception as exc:
            return _as_openai_error(exc)
        return JSONResponse(model_card())

    @router.post(
        "/chat/completions",
        summary="Answer the last user message (OpenAI chat completions; stream true or false)",
        description=(
            "The reply keeps its [n] markers and ends with a sources list; `citations` on the "
            "message (or the last stream chunk) are the `qa ask --json` citation objects."
        ),
    )
    async def chat_completions(request: Request) -> Any:
        try:
            question_guard(request)
            chat = _parse(await request.body())
            _check_model(chat.model)
            question, history = conversation(chat.messages)
            scope = chat.scope()
            if chat.stream:
                return AnswerEvents(
                    slots,
                    lambda: answer_stream(pipeline, question, history, delay_s, scope),
                    settings.answer_timeout_s,
                    OpenAIChunks(chat),
                )

            async def complete() -> JSONResponse:
                async with slots.hold():
                    answer = await result_in_thread(
                        lambda: pipeline.ask(question, history, documents=scope), settings.answer_timeout_s
                    )
                return _completion(chat, answer)

            return await unless_gone(request.receive, complete)
        except Exception as exc:
            return _as_openai_error(exc)

    return router


def _completion(chat: ChatRequest, answer: Answer) -> JSONResponse:
    content = answer.answer + sources_list(answer)
    message = {"role": "assistant", "content": content, "refusal": None, **riders(answer)}
    body = {
        **_head("chat.completion"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage(chat.messages, content),
    }
    return JSONResponse(body)


class OpenAIChunks:
    """A stream in OpenAI's chunk format: a role chunk first, content deltas, the sources list,
    a `stop` chunk carrying the citations, the usage chunk when asked for, then `data: [DONE]`."""

    closing = "data: [DONE]\n\n"

    def __init__(self, chat: ChatRequest) -> None:
        self.chat = chat
        self.head = _head("chat.completion.chunk")
        self.with_usage = bool((chat.stream_options or {}).get("include_usage"))
        self.started = False

    def _chunk(self, delta: dict, finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = {**self.head, "choices": [choice], **extra}
        if self.with_usage:
            body["usage"] = None
        return _data(body)

    def event(self, item: str | Answer) -> str:
        out = ""
        if not self.started:
            self.started = True
            out += self._chunk({"role": "assistant", "content": ""})
        if not isinstance(item, Answer):
            return out + self._chunk({"content": item})
        sources = sources_list(item)
        if sources:
            out += self._chunk({"content": sources})
        out += self._chunk({}, "stop", **riders(item))
        if self.with_usage:
            usage_ = usage(self.chat.messages, item.answer + sources)
            out += _data({**self.head, "choices": [], "usage": usage_})
        return out

    def error_event(self, message: str) -> str:
        return _data({"error": error_body(500, message)["error"]})

    def error_response(self, exc: BaseException) -> JSONResponse:
        return _as_openai_error(exc)


def _head(kind: str) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": MODEL,
        "system_fingerprint": None,
    }


def _data(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _parse(body: bytes) -> ChatRequest:
    try:
        return ChatRequest.model_validate_json(body)
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors()})
        raise InputError(
            'The request must be JSON like {"model": "qa", "messages": [{"role": "user", "content": "..."}]}'
            f"; check: {', '.join(fields)}."
        ) from None


def _check_model(model: str) -> None:
    if model != MODEL:
        raise OpenAIError(404, f"The model '{model}' does not exist; this server has one model, '{MODEL}'.")


def _as_openai_error(exc: BaseException) -> JSONResponse:
    """The API's refusals (token, rate, bad question, missing index, busy, too slow) in OpenAI's shape."""
    if isinstance(exc, OpenAIError | ApiError):
        return error_response(exc.status, str(exc), exc.headers)
    if isinstance(exc, BusyError):
        return error_response(503, str(exc), {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, ClientGone):
        return error_response(499, str(exc))
    if isinstance(exc, QAError):
        return error_response(status_of(exc), str(exc))
    return error_response(500, "Something went wrong while answering.")
