"""The MCP server through the official `mcp` SDK's client: over stdio (`python -m qa mcp` as a
subprocess) and over streamable HTTP at /mcp on a real app server, behind the API token."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from live_server import LiveServer
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from qa.config import PROJECT_ROOT, Settings
from qa.query.pipeline import Pipeline
from qa.web.app import build_app

TOKEN = "mcp-token"
GREEN = "有多少家机构成为绿色联盟合作伙伴？"
TITLE = "深化生态环境领域国际合作 助力建设人与自然和谐共生的现代化"


@pytest.fixture(scope="module")
def server(pipeline: Pipeline, article_settings: Settings) -> Iterator[str]:
    settings = article_settings.model_copy(update={"api_token": SecretStr(TOKEN), "rate_limit_per_minute": 0})
    with LiveServer(build_app(pipeline, settings)) as live:
        yield live.url


async def _session(client: Client) -> dict[str, Any]:
    """What one client session sees: the tools, an answer, the documents, and two refusals."""
    async with client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        answer = await client.call_tool("ask", {"question": GREEN})
        follow = await client.call_tool(
            "ask",
            {
                "question": "那第二阶段呢？",
                "history": [
                    {"role": "user", "content": "COP15第一阶段会议通过了什么？"},
                    {"role": "assistant", "content": "第一阶段会议通过了《昆明宣言》。"},
                ],
            },
        )
        passages = await client.call_tool("retrieve", {"question": GREEN, "k": 2})
        documents = await client.call_tool("list_documents", {})
        empty = await client.call_tool("ask", {"question": "  "})
        unknown = await client.call_tool("ask", {"question": GREEN, "documents": ["no-such.md"]})
    return locals()


def _check(seen: dict[str, Any], pipeline: Pipeline) -> None:
    tools = seen["tools"]
    assert set(tools) == {"ask", "retrieve", "list_documents"}
    assert TITLE in tools["ask"].description and "article.md" in tools["ask"].description
    assert {"question", "history", "documents"} <= tools["ask"].input_schema["properties"].keys()
    assert tools["ask"].input_schema["required"] == ["question"]

    answer = seen["answer"]
    expected = pipeline.ask(GREEN).as_json()
    structured = answer.structured_content
    assert not answer.is_error and structured["answer"] == expected["answer"]
    assert structured["citations"] == expected["citations"] and "160" in structured["answer"]
    text = answer.content[0].text
    assert text.startswith(expected["answer"]) and f"来源：\n- [1] {TITLE}" in text

    follow = seen["follow"].structured_content
    assert follow["standalone_question"] != "那第二阶段呢？" and "框架" in follow["answer"]

    passages = seen["passages"].structured_content["results"]
    assert [p["chunk_id"] for p in passages] == [
        r.chunk.chunk_id for r in pipeline.retrieve(GREEN, 2).results
    ]
    assert seen["documents"].structured_content["documents"][0]["doc_id"] == "article.md"

    assert seen["empty"].is_error and seen["empty"].content[0].text.endswith(": The question is empty.")
    assert seen["unknown"].is_error and "'no-such.md'" in seen["unknown"].content[0].text


@pytest.mark.slow
def test_stdio_client_lists_tools_and_gets_a_cited_answer(pipeline: Pipeline) -> None:
    env = {"QA_VECTORSTORE_DIR": str(pipeline.settings.vectorstore_dir), "PYTHONPATH": str(PROJECT_ROOT)}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "qa", "mcp"], env=env, cwd=PROJECT_ROOT
    )
    _check(anyio.run(_session, Client(params)), pipeline)


def test_streamable_http_client_with_the_token_gets_a_cited_answer(server: str, pipeline: Pipeline) -> None:
    async def run() -> dict[str, Any]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http:
            return await _session(Client(streamable_http_client(f"{server}/mcp", http_client=http)))

    _check(anyio.run(run), pipeline)


def test_mcp_over_http_refuses_a_missing_or_wrong_token(server: str) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.post(f"{server}/mcp", json=hello, headers=headers, timeout=30)
        assert response.status_code == 401 and response.json() == {
            "error": "A valid bearer token is required (Authorization: Bearer ...)."
        }
