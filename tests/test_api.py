"""The HTTP API on a real server: shapes from docs/interfaces.md, guards, the widget script, load."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from live_server import LiveServer
from pydantic import SecretStr

from qa.config import Settings
from qa.query.pipeline import Pipeline
from qa.web.app import build_app
from qa.web.guards import RateLimiter
from qa.web.streaming import split_for_streaming

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EMBEDDER = "http://127.0.0.1:9"  # an origin allowed to embed; nothing listens there


@pytest.fixture(scope="module")
def api_settings(article_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return article_settings.model_copy(
        update={
            "api_token": SecretStr(TOKEN),
            "rate_limit_per_minute": 0,
            "max_request_bytes": 4096,
            "concurrency_limit": 4,
            "stream_delay_ms": 0,
            "allowed_origins": [EMBEDDER],
            "feedback_file": tmp_path_factory.mktemp("feedback") / "feedback.jsonl",
        }
    )


@pytest.fixture(scope="module")
def server(pipeline: Pipeline, api_settings: Settings) -> Iterator[str]:
    with LiveServer(build_app(pipeline, api_settings)) as live:
        yield live.url


def test_ask_returns_the_cli_json_with_citations(server: str) -> None:
    response = httpx.post(
        f"{server}/api/ask", json={"question": "有多少家机构成为绿色联盟合作伙伴？"}, headers=AUTH, timeout=60
    )
    assert response.status_code == 200
    body = response.json()
    assert {"question", "answer", "refused", "mode", "citations", "retrieved", "latency_ms"} <= body.keys()
    assert not body["refused"] and _mentions(body, "160")
    citation = body["citations"][0]
    assert {"n", "chunk_id", "doc_id", "section", "paragraphs", "text", "quote"} <= citation.keys()
    assert f"[{citation['n']}]" in body["answer"]


def test_stream_sends_tokens_then_one_done_event_with_the_full_answer(server: str) -> None:
    events = []
    with httpx.stream(
        "POST",
        f"{server}/api/ask/stream",
        json={"question": "有多少家机构成为绿色联盟合作伙伴？"},
        headers=AUTH,
        timeout=60,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    tokens = [event for event in events if event["type"] == "token"]
    assert len(tokens) > 1
    assert [event["type"] for event in events[len(tokens) :]] == ["done"]
    done = events[-1]
    assert "".join(token["text"] for token in tokens) == done["answer"]
    assert done["citations"] and _mentions(done, "160")


def test_health_reports_chunks_and_embedder_without_a_token(server: str) -> None:
    body = httpx.get(f"{server}/api/health").json()
    assert body["status"] == "ok" and body["chunks"] > 10 and body["embedder"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_gets_401_json(server: str, headers: dict) -> None:
    response = httpx.post(f"{server}/api/ask", json={"question": "作者是谁"}, headers=headers)
    assert response.status_code == 401
    assert "token" in response.json()["error"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_document_list_is_guarded_by_the_api_token_and_changes_are_off_without_admin(server: str) -> None:
    assert httpx.get(f"{server}/api/documents").status_code == 401
    listed = httpx.get(f"{server}/api/documents", headers=AUTH).json()
    assert [doc["doc_id"] for doc in listed["documents"]] == ["article.md"]
    assert listed["chunks"] == listed["documents"][0]["chunks"] > 10
    refused = httpx.post(f"{server}/api/documents", files={"files": ("a.md", b"# a")}, headers=AUTH)
    assert refused.status_code == 403 and "QA_ADMIN_TOKEN" in refused.json()["error"]


def test_oversize_body_gets_413_json(server: str) -> None:
    response = httpx.post(f"{server}/api/ask", json={"question": "长" * 5000}, headers=AUTH)
    assert response.status_code == 413
    assert "4096" in response.json()["error"]


def test_oversize_chunked_body_without_length_gets_413(server: str) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = httpx.post(
        f"{server}/api/ask", content=body(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_too_long_question_gets_400_json(server: str, api_settings: Settings) -> None:
    question = "q" * (api_settings.max_question_chars + 1)
    response = httpx.post(f"{server}/api/ask", json={"question": question}, headers=AUTH)
    assert response.status_code == 400
    assert "limit" in response.json()["error"]


def test_malformed_body_gets_a_json_error(server: str) -> None:
    bad = httpx.post(
        f"{server}/api/ask", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert bad.status_code == 422 and "question" in bad.json()["error"]


def test_pages_may_be_framed_only_by_the_allow_list_and_cors_follows_it(server: str) -> None:
    page = httpx.get(f"{server}/embed/")
    assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {EMBEDDER}"
    allowed = httpx.options(
        f"{server}/api/ask",
        headers={"Origin": EMBEDDER, "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers["access-control-allow-origin"] == EMBEDDER
    other = httpx.options(
        f"{server}/api/ask",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_widget_script_is_served_by_the_app_and_fetches_nothing_else(server: str) -> None:
    response = httpx.get(f"{server}/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "/embed/" in response.text and "http" not in response.text.split("*/", 1)[1]


def test_openapi_documents_the_routes(server: str) -> None:
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/health", "/api/documents"} <= paths.keys()


def test_api_docs_page_and_its_assets_are_served_locally(server: str) -> None:
    import re

    page = httpx.get(f"{server}/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert assets and all(not a.startswith("http") or a.startswith(server) for a in assets), assets
    for asset in assets:
        assert httpx.get(asset if asset.startswith("http") else f"{server}{asset}").status_code == 200


def test_rate_limit_gets_429_after_the_allowance(pipeline: Pipeline, api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"rate_limit_per_minute": 2})
    with LiveServer(build_app(pipeline, settings)) as live:
        codes = [
            httpx.post(
                f"{live.url}/api/ask", json={"question": "作者是谁"}, headers=AUTH, timeout=60
            ).status_code
            for _ in range(3)
        ]
        limited = httpx.post(f"{live.url}/api/ask", json={"question": "作者是谁"}, headers=AUTH)
    assert codes == [200, 200, 429]
    assert limited.json()["error"].startswith("Too many questions")


def test_rate_limiter_forgets_calls_older_than_a_minute() -> None:
    limiter = RateLimiter(1)
    assert limiter.allow("a", now=0) and not limiter.allow("a", now=30)
    assert limiter.allow("b", now=30)
    assert limiter.allow("a", now=60.5)


def test_streaming_pieces_rejoin_and_never_split_a_marker() -> None:
    text = "甲乙丙丁戊己 [12] and more words [3]"
    pieces = split_for_streaming(text, size=3)
    assert "".join(pieces) == text
    assert all(piece.count("[") == piece.count("]") for piece in pieces)


def _mentions(body: dict, expected: str) -> bool:
    """The answer, or a passage it cites, says `expected`."""
    return any(expected in text for text in [body["answer"], *(c["text"] for c in body["citations"])])


QUESTIONS = [
    ("有多少家机构成为绿色联盟合作伙伴？", "160"),
    ("COP15第一阶段会议通过了什么？", "COP15"),
    ("这篇文章的作者是谁？", ""),
    ("Who wrote this article?", ""),
]


@pytest.mark.slow
def test_twenty_concurrent_clients_are_all_answered_correctly(server: str) -> None:
    clients, rounds = 20, 5
    latencies: list[float] = []
    errors: list[str] = []
    alone = {  # each question asked alone first: concurrent answers must be identical
        question: httpx.post(
            f"{server}/api/ask", json={"question": question}, headers=AUTH, timeout=60
        ).json()
        for question, _ in QUESTIONS
    }

    def client(index: int) -> None:
        with httpx.Client(base_url=server, headers=AUTH, timeout=120) as http:
            for turn in range(rounds):
                question, expected = QUESTIONS[(index + turn) % len(QUESTIONS)]
                started = time.perf_counter()
                response = http.post("/api/ask", json={"question": question})
                latencies.append((time.perf_counter() - started) * 1000)
                body = response.json()
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {question}: {str(body)[:120]}")
                elif expected and (not body["citations"] or not _mentions(body, expected)):
                    errors.append(f"uncited or wrong answer to {question}: {body['answer'][:80]}")
                elif (body["answer"], body["citations"]) != (
                    alone[question]["answer"],
                    alone[question]["citations"],
                ):
                    errors.append(f"answer to {question} differs from the one given alone")

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"\nconcurrency: {clients} clients, {len(latencies)} requests, {len(errors)} errors, "
        f"p50 {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, "
        f"{len(latencies) / wall:.1f} req/s"
    )
    assert len(latencies) == clients * rounds
    assert errors == []


def test_the_servers_warm_up_asks_through_its_own_route_and_spends_no_clients_allowance(
    pipeline: Pipeline, api_settings: Settings
) -> None:
    from qa.web.app import warm_up_http

    settings = api_settings.model_copy(update={"rate_limit_per_minute": 1})
    app = build_app(pipeline, settings)
    assert warm_up_http(app, settings) == 200  # with the API token, through guard and route
    with LiveServer(app) as live:
        codes = [
            httpx.post(
                f"{live.url}/api/ask", json={"question": "作者是谁"}, headers=AUTH, timeout=60
            ).status_code
            for _ in range(2)
        ]
    assert codes == [200, 429]  # the client's one question a minute is still its own


def test_a_server_with_an_llm_warms_up_without_calling_it(api_settings: Settings) -> None:
    """Start-up must not spend a model call: with an LLM configured the warm-up only retrieves."""
    from http.server import BaseHTTPRequestHandler

    from qa.errors import BackendError
    from qa.web.app import warm_up
    from tests.servers import InProcessServer

    calls: list[str] = []

    class Recording(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            calls.append(self.path)
            self.send_error(500)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    with InProcessServer(Recording) as model:
        settings = api_settings.model_copy(
            update={"llm_base_url": f"http://127.0.0.1:{model.port}/v1", "llm_model": "any"}
        )
        pipeline = Pipeline(settings)
        assert pipeline.chat is not None
        warm_up(pipeline, build_app(pipeline, settings), settings)
        assert calls == []
        with pytest.raises(BackendError):  # a real question does reach it (and gets its 500)
            pipeline.ask("作者是谁")
        assert calls
