"""A strong LLM replayed: an OpenAI-compatible server on 127.0.0.1 that answers from written answers.

The product cannot be tested end to end against DeepSeek or Qwen in CI, so this server speaks
their protocol (`GET /v1/models`, `POST /v1/chat/completions`, streamed as OpenAI streams it, SSE
chunks ending `data: [DONE]`, or not) and replays answers written in a strong model's style
(`tests/fixtures/llm_replay.jsonl` about the article, `llm_replay_<corpus>.jsonl` about each dev
corpus of eval/corpora/). The model name picks what it plays:

    replay-true     every sentence true           replay-wrong   every sentence subtly wrong
    replay-mixed    true, one sentence wrong      ...-plain      [n] markers without quotes

It reads the prompt it is sent, like a model does: the question selects the record, and each
sentence is cited `[n: quote]` with the n of the context item holding its source, so the data
never hard-codes n; a sentence whose source is not in the context is not written. A condense
request (a follow-up and its history) gets the record's standalone question, or the follow-up
unchanged. A verify request (QA_VERIFY_WITH_LLM: does this quote support this sentence?) is
answered as a strong model would judge it: yes for a sentence the set labels true and whose quote
is its own (or holds its source), no for a wrong one or an unknown one. A question that is not in
the set is declined as a careful model would.

Run: python tests/replay_llm.py --port 8011 [--data FILE ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).parent / "fixtures" / "llm_replay.jsonl"  # the article's
# Every replayed set (the article's and each dev corpus's, llm_replay_<corpus>.jsonl): a server
# started without --data answers questions about any of them.
ALL_DATA = sorted(DATA.parent.glob("llm_replay*.jsonl"))
MODES = ("true", "wrong", "mixed")
MODELS = [f"replay-{mode}{suffix}" for mode in MODES for suffix in ("", "-plain")]

_CONTEXT_ITEM = re.compile(r"^\[(\d{1,3})\][^\n]*\n```data\n(.*?)\n```", re.DOTALL | re.MULTILINE)
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_JUDGED = re.compile(r"```quote\n(.*?)\n```.*?```sentence\n(.*?)\n```", re.DOTALL)
_FOLLOW_UP = re.compile(r"(?:Follow-up|追问)\s*[:：]\s*(.+)")
_PUNCT = re.compile(r"[\s\"'“”‘’「」『』《》（）()，,。.、：:；;！!？?\-—]+")
_END = re.compile(r"([。！？.!?]+[”’」』\"']*)$")
REFUSAL = {"zh": "文章没有提到这一点。", "en": "The article does not say."}


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def squash(text: str) -> str:
    """Simplified, lower-case, without whitespace: how a quote is found in a chunk."""
    return "".join(_t2s().convert(text).lower().split())


def loose(text: str) -> str:
    """`squash` without punctuation either: how a question is found in a prompt."""
    return _PUNCT.sub("", squash(text))


def stable(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16)


@dataclass(frozen=True)
class Sentence:
    slot: int
    text: str
    quotes: tuple[str | None, ...]
    sources: tuple[str, ...]
    truth: bool
    error_kind: str | None

    @classmethod
    def from_json(cls, data: dict) -> Sentence:
        sources = data["cited_source_substring"]
        sources = (sources,) if isinstance(sources, str) else tuple(sources)
        quotes = data["quote"]
        quotes = (quotes,) * len(sources) if quotes is None or isinstance(quotes, str) else tuple(quotes)
        return cls(data["slot"], data["text"], quotes, sources, data["truth"], data["error_kind"])


def load(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sentences_for(record: dict, mode: str) -> list[Sentence]:
    """The sentences the model writes in a mode: per slot the true or the wrong one."""
    all_sentences = [Sentence.from_json(s) for s in record["sentences"]]
    slots = sorted({s.slot for s in all_sentences})
    wrong_slot = stable(record["id"]) % len(slots) if len(slots) > 1 else None
    chosen = []
    for slot in slots:
        truth = mode == "true" or (mode == "mixed" and slot != wrong_slot)
        chosen += [s for s in all_sentences if s.slot == slot and s.truth == truth][:1]
    return chosen


def context_items(prompt: str) -> dict[int, str]:
    return {int(n): squash(text) for n, text in _CONTEXT_ITEM.findall(prompt)}


def find_record(text: str, records: list[dict]) -> dict | None:
    """The record whose question (or standalone question) the text holds; the longest wins."""
    haystack = loose(text)
    best, size = None, 0.0
    for record in records:
        for question, bonus in ((record["question"], 0.5), (record.get("standalone"), 0.0)):
            needle = loose(question or "")
            if needle and needle in haystack and len(needle) + bonus > size:
                best, size = record, len(needle) + bonus  # the asked question beats a rewritten one
    return best


def render(record: dict, mode: str, items: dict[int, str], plain: bool) -> str:
    """The answer with each sentence cited by the context item that holds its source."""
    english = record["language"] == "en"
    after = stable(record["id"] + "marker") % 10 < 3  # some models put the marker after the stop
    out: list[str] = []
    for sentence in sentences_for(record, mode):
        markers = []
        for quote, source in zip(sentence.quotes, sentence.sources, strict=True):
            n = next((n for n, text in sorted(items.items()) if squash(source) in text), None)
            if n is not None and all(not m.startswith(f"[{n}") for m in markers):
                markers.append(f"[{n}]" if plain or quote is None else f"[{n}: {quote}]")
        if not markers:
            continue  # the model was not shown this sentence's source, so it cannot write it
        body, stop = _split_end(sentence.text)
        marks = "".join(markers)
        text = (
            f"{body}{stop}{' ' if english else ''}{marks}"
            if after
            else f"{body}{' ' if english else ''}{marks}{stop}"
        )
        out.append(text)
    if not out:
        return REFUSAL["en" if english else "zh"]
    return (" " if english else "").join(out)


def _split_end(text: str) -> tuple[str, str]:
    match = _END.search(text)
    return (text[: match.start()], match.group(1)) if match else (text, "")


def judge(quote: str, sentence: str, records: list[dict], chinese: bool) -> str:
    """Yes when the sentence is one the set labels true and the quote is from its source."""
    body = loose(_split_end(sentence.strip())[0])
    quote_s = loose(quote)
    supported = False
    for record in records:
        for data in record["sentences"]:
            candidate = Sentence.from_json(data)
            if loose(_split_end(candidate.text)[0]) != body:
                continue
            texts = [loose(t) for t in (*candidate.sources, *(q for q in candidate.quotes if q))]
            near = any(quote_s and (quote_s in t or t in quote_s) for t in texts)
            supported = supported or (candidate.truth and near)
    if chinese:
        return "是" if supported else "否"
    return "Yes." if supported else "No."


def reply(messages: list[dict], model: str, records: list[dict]) -> str:
    mode = model.removeprefix("replay-").removesuffix("-plain")
    plain = model.endswith("-plain")
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    judged = _JUDGED.search(prompt)
    if judged:
        chinese = bool(re.search(r"[\u4e00-\u9fff]", _FENCE.sub(" ", prompt)))
        return judge(judged.group(1), judged.group(2), records, chinese)
    items = context_items(prompt)
    if items:
        outside = _CONTEXT_ITEM.sub(" ", prompt)
        record = find_record(outside, records)
        if record is None:
            system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
            return REFUSAL["zh" if re.search(r"[\u4e00-\u9fff]", system or prompt) else "en"]
        return render(record, mode, items, plain)
    follow_up = _FOLLOW_UP.search(_FENCE.sub(" ", prompt))
    if follow_up:  # the condense step: a standalone question, never an answer
        question = follow_up.group(1).strip()
        record = find_record(question, records)
        return (record or {}).get("standalone") or question
    return REFUSAL["zh" if re.search(r"[\u4e00-\u9fff]", prompt) else "en"]


def pieces(text: str, size: int = 4) -> list[str]:
    """Token-sized pieces, so a marker or a quote arrives cut across several chunks."""
    return [text[i : i + size] for i in range(0, len(text), size)]


class Handler(BaseHTTPRequestHandler):
    records: list[dict] = []
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "replay"} for m in MODELS]
            self._json(200, {"object": "list", "data": data})
        else:
            self._error(404, f"Unknown path {self.path}", "not_found")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"Unknown path {self.path}", "not_found")
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        except json.JSONDecodeError:
            self._error(400, "The request body is not JSON.", "invalid_request_error")
            return
        model, messages = body.get("model"), body.get("messages")
        if model not in MODELS:
            self._error(404, f"The model `{model}` does not exist", "model_not_found")
            return
        if not isinstance(messages, list) or not messages:
            self._error(400, "'messages' must be a non-empty list.", "invalid_request_error")
            return
        content = reply(messages, model, self.records)
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        usage = {"prompt_tokens": sum(len(str(m.get("content", ""))) for m in messages) // 2}
        usage |= {"completion_tokens": len(content) // 2}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": content}}
            choice |= {"logprobs": None, "finish_reason": "stop"}
            self._json(
                200,
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                    "system_fingerprint": None,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        head = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces(content)]
        for delta in deltas:
            self._event(
                {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}
            )
        self._event(
            {**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({**head, "choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _event(self, data: dict) -> None:
        self.wfile.write(f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
        self.wfile.flush()

    def _json(self, status: int, data: dict) -> None:
        payload = json.dumps(data, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, code: str) -> None:
        self._json(
            status,
            {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}},
        )


def serve(port: int, data: Sequence[Path] = ALL_DATA) -> None:
    Handler.records = [record for path in data for record in load(path)]
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, action="append", help="a replayed set (default: every one)")
    args = parser.parse_args()
    serve(args.port, args.data or ALL_DATA)


if __name__ == "__main__":
    main()
