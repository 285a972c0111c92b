"""The OpenAI-compatible routes on a real server, driven by real clients: the `openai` SDK,
LangChain's ChatOpenAI, and plain HTTP for the wire format. Answers must be the pipeline's
own, so the dev set through /v1/chat/completions matches `qa ask --json` and `qa eval`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from live_server import LiveServer
from pydantic import SecretStr

from qa.cli import main
from qa.config import PROJECT_ROOT, Settings
from qa.eval import runner
from qa.query.pipeline import Pipeline
from qa.records import Answer, Chunk, Citation
from qa.text.tokens import count_tokens
from qa.web.app import build_app
from qa.web.openai_routes import strip_sources

TOKEN = "openai-route-token"
DEV_SET = PROJECT_ROOT / "eval" / "sets" / "article_dev.jsonl"
GREEN = "有多少家机构成为绿色联盟合作伙伴？"
CHAT_LIMIT = 65_536


@pytest.fixture(scope="module")
def chat_settings(article_settings: Settings) -> Settings:
    return article_settings.model_copy(
        update={
            "api_token": SecretStr(TOKEN),
            "rate_limit_per_minute": 0,
            "stream_delay_ms": 0,
            "max_chat_request_bytes": CHAT_LIMIT,
        }
    )


@pytest.fixture(scope="module")
def server(pipeline: Pipeline, chat_settings: Settings) -> Iterator[str]:
    with LiveServer(build_app(pipeline, chat_settings)) as live:
        yield live.url


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=TOKEN, max_retries=0, timeout=120)


def test_models_list_offers_the_collection_as_one_model(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models] == ["qa"]
    assert client.models.retrieve("qa").owned_by == "qa"


def test_answer_keeps_markers_ends_with_sources_and_carries_citations(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": GREEN}])
    message = reply.choices[0].message
    assert reply.object == "chat.completion" and reply.choices[0].finish_reason == "stop"
    assert message.role == "assistant" and "160" in message.content
    citations = message.model_extra["citations"]
    assert (
        citations
        and {"n", "chunk_id", "doc_id", "section", "paragraphs", "text", "quote"} <= citations[0].keys()
    )
    answer, sources = message.content.split("\n\n来源：\n")
    assert f"[{citations[0]['n']}]" in answer
    first = citations[0]
    assert (
        sources.splitlines()[0]
        == f"- [{first['n']}] {first['title']} · {first['section']} · ¶{first['paragraphs'][0]}"
    )
    assert message.model_extra["refused"] is False
    assert reply.usage.completion_tokens == count_tokens(message.content)
    assert reply.usage.prompt_tokens == count_tokens(GREEN)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_stream_adds_up_to_the_answer_and_ends_with_citations_usage_and_done(
    client: openai.OpenAI, pipeline: Pipeline
) -> None:
    stream = client.chat.completions.create(
        model="qa",
        messages=[{"role": "user", "content": GREEN}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    final = [chunk for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert len(final) == 1 and final[0].choices[0].finish_reason == "stop"
    expected = pipeline.ask(GREEN)
    assert strip_sources(text) == expected.answer and "\n\n来源：\n- [1] " in text
    assert final[0].model_extra["citations"] == [c.as_json() for c in expected.citations]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == count_tokens(text)
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_stream_on_the_wire_is_sse_chunks_then_done(server: str) -> None:
    body = {"model": "qa", "messages": [{"role": "user", "content": GREEN}], "stream": True}
    with httpx.stream(
        "POST",
        f"{server}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert "usage" not in chunks[-1] and chunks[-1]["citations"]


def test_follow_up_through_messages_is_condensed_like_history(
    client: openai.OpenAI, pipeline: Pipeline
) -> None:
    first_question = "COP15第一阶段会议通过了什么？"
    first = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": first_question}])
    earlier = first.choices[0].message.content
    assert "昆明宣言" in earlier and "来源：" in earlier
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": first_question},
        {"role": "assistant", "content": earlier},
        {"role": "user", "content": [{"type": "text", "text": "那第二阶段呢？"}]},
    ]
    reply = client.chat.completions.create(model="qa", messages=messages)
    history = [
        {"role": "user", "content": first_question},
        {"role": "assistant", "content": strip_sources(earlier)},
    ]
    expected = pipeline.ask("那第二阶段呢？", history)
    assert expected.standalone_question and expected.standalone_question != "那第二阶段呢？"
    assert strip_sources(reply.choices[0].message.content) == expected.answer
    assert "框架" in reply.choices[0].message.content


def test_refusal_is_an_ordinary_assistant_message(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="qa", messages=[{"role": "user", "content": "法国的国内生产总值是多少？"}]
    )
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "stop" and message.role == "assistant"
    assert message.model_extra["refused"] is True and message.model_extra["citations"] == []
    assert message.content and "来源" not in message.content


def test_unknown_parameters_are_accepted_and_ignored(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": GREEN}])
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
    extra = client.chat.completions.create(
        model="qa",
        messages=[{"role": "user", "content": GREEN}],
        temperature=1.7,
        top_p=0.2,
        max_tokens=5,
        n=3,
        seed=7,
        tools=[tool],
        user="someone",
        response_format={"type": "text"},
        extra_body={"frequency_penalty": 1, "an_unknown_field": {"x": 1}},
    )
    assert extra.choices[0].message.content == plain.choices[0].message.content


def test_wrong_key_is_refused_with_an_openai_error(server: str) -> None:
    wrong = openai.OpenAI(base_url=f"{server}/v1", api_key="not-the-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.chat.completions.create(model="qa", messages=[{"role": "user", "content": GREEN}])
    assert refused.value.status_code == 401
    assert refused.value.body == {
        "message": "A valid bearer token is required (Authorization: Bearer ...).",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (
            {"model": "gpt-4o", "messages": [{"role": "user", "content": GREEN}]},
            404,
            "model 'gpt-4o' does not exist",
        ),
        ({"model": "qa", "messages": [{"role": "assistant", "content": "hi"}]}, 400, "last message must be"),
        ({"model": "qa", "messages": []}, 400, "last message must be"),
        ({"model": "qa", "messages": [{"role": "user", "content": "  "}]}, 400, "The question is empty"),
        ({"model": "qa"}, 400, "check: messages"),
        (
            {"model": "qa", "messages": [{"role": "user", "content": "x" * 3000}]},
            400,
            "QA_MAX_QUESTION_CHARS",
        ),
        (
            {"model": "qa", "messages": [{"role": "user", "content": "x" * CHAT_LIMIT}]},
            413,
            "QA_MAX_CHAT_REQUEST_BYTES",
        ),
    ],
)
def test_bad_requests_get_openai_error_objects(server: str, body: dict, status: int, says: str) -> None:
    response = httpx.post(
        f"{server}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert says in error["message"] and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}


def test_langchain_chat_openai_streams_a_cited_answer(server: str) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{server}/v1", api_key=TOKEN, model="qa", max_retries=0, timeout=120)
    pieces = [piece.content for piece in chat.stream(GREEN)]
    text = "".join(pieces)
    assert len(pieces) > 3 and "160" in text and "[1]" in text
    assert "\n\n来源：\n- [1] 深化生态环境领域国际合作" in text


# --- the dev set through /v1 equals the CLI and the eval runner ----------------------------


def _messages(item: runner.EvalItem) -> list[dict]:
    return [*item.history, {"role": "user", "content": item.question}]


def test_dev_set_sample_through_chat_completions_equals_qa_ask_json(
    client: openai.OpenAI,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    tmp_path: Path,
) -> None:
    """Every sixth item (20, all kinds): text, refusal and citations equal what `qa ask --json`
    prints, which is Pipeline.ask(...).as_json(); the first item also goes through the CLI itself."""
    items = runner.load_set(DEV_SET)[::6]
    assert len(items) == 20 and len({item.kind for item in items}) >= 8
    for item in items:
        reply = client.chat.completions.create(model="qa", messages=_messages(item)).choices[0].message
        expected = pipeline.ask(item.question, item.history).as_json()
        assert strip_sources(reply.content) == expected["answer"], item.id
        assert reply.model_extra["citations"] == expected["citations"], item.id
        assert reply.model_extra["refused"] == expected["refused"], item.id
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(pipeline.settings.vectorstore_dir))
    history = tmp_path / "history.json"
    history.write_text(json.dumps(list(items[0].history)), encoding="utf-8")
    capsys.readouterr()
    assert main(["ask", items[0].question, "--history", str(history), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    reply = client.chat.completions.create(model="qa", messages=_messages(items[0])).choices[0].message
    assert (
        strip_sources(reply.content) == printed["answer"]
        and reply.model_extra["citations"] == printed["citations"]
    )


class ChatCompletionsSystem:
    """The eval runner's System, answering through /v1/chat/completions (retrieval stays local:
    the route returns no ranking, and the runner retrieves separately anyway)."""

    def __init__(self, client: openai.OpenAI, pipeline: Pipeline) -> None:
        self.client = client
        self.pipeline = pipeline

    def retrieve(self, question: str, k: int | None = None):  # noqa: ANN201 - Retrieval
        return self.pipeline.retrieve(question, k)

    def ask(self, question: str, history=()) -> Answer:  # noqa: ANN001
        messages = [*history, {"role": "user", "content": question}]
        message = self.client.chat.completions.create(model="qa", messages=messages).choices[0].message
        citations = tuple(
            Citation(
                c["n"],
                Chunk(
                    c["chunk_id"],
                    c["doc_id"],
                    c["title"],
                    c["section"],
                    tuple(c["paragraphs"]),
                    c["text"],
                    "",
                ),
                c["quote"],
            )
            for c in message.model_extra["citations"]
        )
        return Answer(
            question,
            strip_sources(message.content),
            message.model_extra["refused"],
            "extractive",
            citations,
            (),
            standalone_question=message.model_extra.get("standalone_question", ""),
        )


@pytest.mark.slow
def test_whole_dev_set_scores_the_same_through_chat_completions_as_qa_eval(
    client: openai.OpenAI, pipeline: Pipeline, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "QA_VECTORSTORE_DIR": str(pipeline.settings.vectorstore_dir),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    subprocess.run(
        [sys.executable, "-m", "qa", "eval", str(DEV_SET), "--out", str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
    )
    cli = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    items = runner.load_set(DEV_SET)
    records = runner.run_items(ChatCompletionsSystem(client, pipeline), items, 5, False, progress=False)
    for ours, theirs in zip(records, cli["items"], strict=True):
        assert (ours["id"], ours["answer"], ours["refused"]) == (
            theirs["id"],
            theirs["answer"],
            theirs["refused"],
        )
        assert [(c["chunk_id"], c["n"], c["quote"]) for c in ours["citations"]] == [
            (c["chunk_id"], c["n"], c["quote"]) for c in theirs["citations"]
        ]
    timing = {"latency_ms_p50", "latency_ms_p95"}
    ours = {k: v for k, v in runner.aggregate(records).items() if k not in timing}
    theirs = {k: v for k, v in cli["metrics"]["overall"].items() if k not in timing}
    assert ours == theirs
