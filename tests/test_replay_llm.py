"""The strong-model replay: its data rests on the article, and its server speaks OpenAI's protocol.

tests/replay_llm.py plays a strong model for the LLM path's end-to-end tests and for
bench/llm_verify.py; these tests keep it honest: every true quote is the article's own text,
the set covers every kind of error the verifier must catch, and the server answers as an
OpenAI-compatible endpoint does (streamed chunks ending `data: [DONE]`), citing each sentence
by the context item that holds its quote, whatever order retrieval put the items in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter

import httpx
import openai
import pytest

from qa.config import PROJECT_ROOT
from tests.replay_llm import DATA, load, sentences_for, squash

RECORDS = load(DATA)
ARTICLE = squash((PROJECT_ROOT / "data" / "article.md").read_text(encoding="utf-8"))
KINDS = {
    "number_swap",
    "number_binding",
    "phase_or_event_swap",
    "year_shift",
    "negation",
    "title_or_rank",
    "entity_swap",
    "unsupported_addition",
}
PHASES = (
    "协调力，坚持真正的多边主义和公道正义立场，全力推动第一阶段会议通过了《昆明宣言》，"
    "第二阶段会议通过了兼具雄心又务实平衡的“框架”。"
)
PARTNERS = (
    "启动并不断完善“一带一路”绿色发展国际联盟和生态环保大数据服务平台，"
    "已有来自43个国家的近160家机构成为绿色联盟合作伙伴。"
)
_MARKER = re.compile(r"\[(\d+)(?::\s*([^\]]*))?\]")


def _sentences(truth: bool) -> list[tuple[dict, dict]]:
    return [(r, s) for r in RECORDS for s in r["sentences"] if s["truth"] is truth]


def test_every_quote_and_cited_source_is_the_articles_own_text():
    for record, sentence in _sentences(True) + _sentences(False):
        sources = sentence["cited_source_substring"]
        quotes = sentence["quote"]
        for text in [sources] if isinstance(sources, str) else sources:
            assert squash(text) in ARTICLE, f"{record['id']}: {text}"
        if sentence["truth"] and quotes is not None:
            for quote in [quotes] if isinstance(quotes, str) else quotes:
                assert squash(quote) in ARTICLE, f"{record['id']}: {quote}"


def test_the_set_covers_both_languages_every_error_kind_and_unquoted_answers():
    true, wrong = _sentences(True), _sentences(False)
    assert len(true) >= 60 and len(wrong) >= 60
    assert sum(r["language"] == "en" for r, _ in true) >= 15
    assert sum(r["language"] == "en" for r, _ in wrong) >= 15
    kinds = Counter(s["error_kind"] for _, s in wrong)
    assert set(kinds) == KINDS and min(kinds.values()) >= 8, kinds
    assert all(s["error_kind"] is None for _, s in true)
    unquoted = sum(not r["quoted"] for r in RECORDS) / len(RECORDS)
    assert 0.1 <= unquoted <= 0.3
    splits = Counter(r["split"] for r in RECORDS)
    assert set(splits) == {"tune", "heldout"} and abs(splits["tune"] - splits["heldout"]) <= 0.1 * len(
        RECORDS
    )
    assert len({r["id"] for r in RECORDS}) == len(RECORDS)


def test_every_wrong_sentence_differs_from_the_true_one_of_its_slot():
    for record in RECORDS:
        true = {s["slot"]: s["text"] for s in record["sentences"] if s["truth"]}
        wrong = {s["slot"]: s["text"] for s in record["sentences"] if not s["truth"]}
        assert set(true) == set(wrong), record["id"]
        assert all(true[slot] != wrong[slot] for slot in true), record["id"]


def _prompt(question: str, *chunks: str) -> list[dict]:
    items = "\n".join(f"[{n}] 段落 {n}\n```data\n{text}\n```" for n, text in enumerate(chunks, start=1))
    return [
        {"role": "system", "content": "你是一个只根据给定文章回答问题的助手。"},
        {"role": "user", "content": f"资料：\n\n{items}\n\n问题：\n{question}\n\n请根据资料回答。"},
    ]


def _client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base, api_key="none", max_retries=0)


def test_models_are_listed_as_openai_lists_them(replay: str):
    models = [m.id for m in _client(replay).models.list()]
    assert {"replay-true", "replay-wrong", "replay-mixed", "replay-true-plain"} <= set(models)


def test_a_sentence_cites_the_item_holding_its_quote_in_either_order(replay: str):
    client = _client(replay)
    question = "COP15第一阶段会议通过了什么文件？"
    for chunks, n in (((PHASES, PARTNERS), "1"), ((PARTNERS, PHASES), "2")):
        reply = client.chat.completions.create(model="replay-true", messages=_prompt(question, *chunks))
        text = reply.choices[0].message.content
        assert reply.choices[0].finish_reason == "stop"
        markers = _MARKER.findall(text)
        assert markers and all(found == n for found, _ in markers), text
        assert all(quote and squash(quote) in squash(chunks[int(n) - 1]) for _, quote in markers)


def test_the_stream_is_openai_chunks_ending_done_and_adds_up_to_the_reply(replay: str):
    body = {"model": "replay-wrong", "messages": _prompt("有多少家机构成为了绿色联盟合作伙伴？", PARTNERS)}
    whole = httpx.post(f"{replay}/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    lines = []
    with httpx.stream("POST", f"{replay}/chat/completions", json={**body, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert streamed == whole and len(events) > 5
    assert "160个国家" in whole  # pb-03, replayed wrong: the institutions counted as countries


def test_the_openai_client_streams_it(replay: str):
    stream = _client(replay).chat.completions.create(
        model="replay-true-plain",
        messages=_prompt("有多少家机构成为了绿色联盟合作伙伴？", PHASES, PARTNERS),
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "160" in text and "[2]" in text and ":" not in text


def test_modes_pick_true_wrong_or_one_wrong_sentence():
    record = next(r for r in RECORDS if r["id"] == "number-01")
    assert all(s.truth for s in sentences_for(record, "true"))
    assert not any(s.truth for s in sentences_for(record, "wrong"))
    assert sum(not s.truth for s in sentences_for(record, "mixed")) == 1


def test_a_sentence_whose_source_is_not_in_the_context_is_not_written(replay: str):
    reply = _client(replay).chat.completions.create(
        model="replay-true", messages=_prompt("COP15第一阶段会议通过了什么文件？", PARTNERS)
    )
    assert reply.choices[0].message.content == "文章没有提到这一点。"


def test_a_follow_up_is_rewritten_not_answered(replay: str):
    prompt = (
        "把用户最后的追问改写成一个问题。\n\n对话历史：\n"
        "```text\nuser: COP15第一阶段会议通过了什么？\n```\n\n"
        "追问：那第二阶段呢？\n\n独立的问题："
    )
    reply = _client(replay).chat.completions.create(
        model="replay-true", messages=[{"role": "user", "content": prompt}]
    )
    assert reply.choices[0].message.content == "COP15第二阶段会议通过了什么？"


def test_an_unknown_model_is_refused_as_openai_refuses_it(replay: str):
    with pytest.raises(openai.NotFoundError):
        _client(replay).chat.completions.create(model="gpt-4o", messages=_prompt("问题", PHASES))


@pytest.mark.slow
def test_qa_ask_answers_through_the_replay_end_to_end(replay: str, article_settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {
        "QA_VECTORSTORE_DIR": str(article_settings.vectorstore_dir),
        "QA_LLM_BASE_URL": replay,
        "QA_LLM_MODEL": "replay-true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "COP15第一阶段会议通过了什么文件？", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mode"] == "llm" and "昆明宣言" in answer["llm_raw_answer"]
    assert "《昆明宣言》" in answer["answer"] and not answer["refused"]


@pytest.mark.slow
def test_a_wrong_sentence_never_reaches_the_stream_and_is_listed_unverified(replay: str, article_settings):
    from qa.config import load_settings
    from qa.query.pipeline import Pipeline
    from qa.records import Answer

    settings = load_settings(
        vectorstore_dir=article_settings.vectorstore_dir, llm_base_url=replay, llm_model="replay-mixed"
    )
    record = next(r for r in RECORDS if r["id"] == "number-01")
    wrong = next(s for s in sentences_for(record, "mixed") if not s.truth)
    true = next(s for s in sentences_for(record, "mixed") if s.truth)
    pieces = list(Pipeline(settings).ask_stream(record["question"]))
    final = pieces[-1]
    assert isinstance(final, Answer) and final.mode == "llm"
    streamed = "".join(p for p in pieces[:-1] if isinstance(p, str))
    assert streamed == final.answer and ":" not in streamed
    assert squash(true.text.rstrip("。")) in squash(streamed)
    assert squash(wrong.text.rstrip("。")) not in squash(streamed)
    assert any(squash(wrong.text.rstrip("。")) in squash(u.sentence) for u in final.unverified)
    assert any("近160家机构" in c.quote for c in final.citations)
