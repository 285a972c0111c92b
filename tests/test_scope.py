"""Scoped questions: answers from chosen documents only, through the pipeline, the CLI, /api,
/v1 and the page. A distractor that contradicts the article wins unscoped; scoping to the
article restores the article's answer, and scoping to the distractor keeps the article out."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator

import httpx
import openai
import pytest
from gradio_client import Client as GradioClient
from live_server import LiveServer

from qa.cli import main
from qa.config import Settings
from qa.errors import InputError
from qa.ingest.sync import ingest
from qa.query.pipeline import Pipeline
from qa.web.app import build_app

GREEN = "有多少家机构成为绿色联盟合作伙伴？"
DISTRACTOR = "alliance-2030.md"
# Another report on the same alliance, with other numbers: retrieval prefers it unscoped.
DISTRACTOR_TEXT = """# 绿色联盟合作伙伴年度报告

## 合作伙伴

截至2030年，已有来自95个国家的近900家机构成为绿色联盟合作伙伴，绿色联盟合作伙伴数量再创新高。

## 活动

绿色联盟合作伙伴在年度大会上交流了城市绿化和垃圾分类的经验。
"""


@pytest.fixture(scope="module")
def distracted(article_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """The article's index plus the distractor (a copy: the article is not embedded again)."""
    folder = tmp_path_factory.mktemp("distracted")
    index = folder / "index"
    shutil.copytree(article_settings.vectorstore_dir, index)
    (folder / DISTRACTOR).write_text(DISTRACTOR_TEXT, encoding="utf-8")
    settings = article_settings.model_copy(update={"vectorstore_dir": index, "stream_delay_ms": 0})
    ingest(settings, [folder / DISTRACTOR], progress=False)
    return Pipeline(settings)


@pytest.fixture(scope="module")
def server(distracted: Pipeline) -> Iterator[str]:
    settings = distracted.settings.model_copy(update={"rate_limit_per_minute": 0})
    with LiveServer(build_app(distracted, settings)) as live:
        yield live.url


def _cited(answer: dict) -> set[str]:
    return {citation["doc_id"] for citation in answer["citations"]}


def test_the_distractor_wins_unscoped_and_scoping_restores_the_article_answer(
    distracted: Pipeline, pipeline: Pipeline
) -> None:
    unscoped = distracted.ask(GREEN).as_json()
    assert "900" in unscoped["answer"] and DISTRACTOR in _cited(unscoped)
    scoped = distracted.ask(GREEN, documents=["article.md"]).as_json()
    alone = pipeline.ask(GREEN).as_json()  # the index that holds only the article
    assert scoped["answer"] == alone["answer"] and "160" in scoped["answer"]
    assert _cited(scoped) == {"article.md"} and scoped["documents"] == ["article.md"]
    assert {r["doc_id"] for r in scoped["retrieved"]} == {"article.md"}


def test_a_scoped_question_cites_only_the_chosen_document(distracted: Pipeline) -> None:
    scoped = distracted.ask(GREEN, documents=[DISTRACTOR]).as_json()
    assert _cited(scoped) == {DISTRACTOR} and "160" not in scoped["answer"]
    assert {r["doc_id"] for r in scoped["retrieved"]} == {DISTRACTOR}
    both = distracted.retrieve(GREEN, 10, documents=[DISTRACTOR, "article.md"])
    assert {r.chunk.doc_id for r in both.results} == {DISTRACTOR, "article.md"}


def test_refusal_honours_the_scope(distracted: Pipeline) -> None:
    question = "COP15第一阶段会议通过了什么？"
    assert not distracted.ask(question).refused
    refused = distracted.ask(question, documents=[DISTRACTOR])
    assert refused.refused and not refused.citations


def test_an_unknown_document_id_is_one_sentence(distracted: Pipeline) -> None:
    with pytest.raises(InputError, match=r"^The collection holds no document 'nope\.md'; .*qa docs list"):
        distracted.ask(GREEN, documents=["article.md", "nope.md"])
    with pytest.raises(InputError, match="empty"):
        distracted.retrieve(GREEN, documents=[" "])


def test_qa_ask_doc_is_repeatable_and_refuses_an_unknown_id(
    distracted: Pipeline, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("QA_VECTORSTORE_DIR", str(distracted.settings.vectorstore_dir))
    assert main(["ask", GREEN, "--doc", "article.md", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert _cited(printed) == {"article.md"} and "160" in printed["answer"]
    assert main(["ask", GREEN, "--doc", DISTRACTOR, "--doc", "article.md", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == [DISTRACTOR, "article.md"]
    assert main(["ask", GREEN, "--doc", "nope.md"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: The collection holds no document 'nope.md'") and err.count("\n") == 1


def test_the_http_api_scopes_ask_and_stream(server: str) -> None:
    body = {"question": GREEN, "documents": ["article.md"]}
    answer = httpx.post(f"{server}/api/ask", json=body, timeout=120).json()
    assert _cited(answer) == {"article.md"} and "160" in answer["answer"]
    with httpx.stream(
        "POST", f"{server}/api/ask/stream", json={**body, "documents": [DISTRACTOR]}, timeout=120
    ) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert _cited(events[-1]) == {DISTRACTOR}
    refused = httpx.post(f"{server}/api/ask", json={**body, "documents": ["nope.md"]}, timeout=60)
    assert refused.status_code == 400 and "'nope.md'" in refused.json()["error"]


def test_the_openai_route_scopes_by_metadata_or_a_documents_field(server: str) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="any", max_retries=0, timeout=120)
    messages = [{"role": "user", "content": GREEN}]
    unscoped = client.chat.completions.create(model="qa", messages=messages).choices[0].message
    assert DISTRACTOR in {c["doc_id"] for c in unscoped.model_extra["citations"]}
    by_metadata = client.chat.completions.create(
        model="qa", messages=messages, metadata={"documents": "article.md"}
    )
    message = by_metadata.choices[0].message
    assert {c["doc_id"] for c in message.model_extra["citations"]} == {
        "article.md"
    } and "160" in message.content
    by_field = client.chat.completions.create(
        model="qa", messages=messages, stream=True, extra_body={"documents": [DISTRACTOR]}
    )
    final = [chunk for chunk in by_field if chunk.choices and chunk.choices[0].finish_reason][0]
    assert {c["doc_id"] for c in final.model_extra["citations"]} == {DISTRACTOR}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="qa", messages=messages, metadata={"documents": "nope.md"})
    assert "'nope.md'" in refused.value.body["message"]


@pytest.mark.slow
def test_the_chat_page_answers_from_the_documents_picked_for_it(server: str) -> None:
    client = GradioClient(f"{server}/", verbose=False)
    _, display = client.predict(GREEN, [], ["article.md"], api_name="/chat")
    article = _shown(display[-1]["content"])
    assert "160" in article and "900" not in article
    _, display = client.predict(GREEN, [], [DISTRACTOR], api_name="/chat")
    distractor = _shown(display[-1]["content"])
    assert "900" in distractor and "160" not in distractor


def _shown(content) -> str:
    """The text a reader sees, without the markup: a card's random id ("qa-fd1d900b-1") is no number."""
    return re.sub(r"<[^>]*>", " ", str(content))
