"""The LLM answerer and the LLM condenser, over any OpenAI-compatible endpoint or a local GGUF.

Backends are one-method contracts (`stream(messages) -> Iterator[str]`): `OpenAIChat` through
langchain-openai (DeepSeek, Qwen, Ollama, vLLM, llama.cpp's server) and `LocalGGUFChat` through
llama-cpp-python in-process (the `llm` extra). The answerer packs retrieved chunks into the
prompt up to a token budget (tiktoken), streams the reply, and lets through only sentences that
citations.Verifier confirms; when none survive, the extractive answer is given instead.
What it does not do: retrieval, or any decision to refuse (the retriever and pipeline decide).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from qa.config import Settings
from qa.errors import BackendError, ConfigError
from qa.ingest.documents import ends_sentence
from qa.query.answering import (
    ExtractiveAnswerer,
    citations_from_markers,
    condense_extractive,
    language_of,
    refusal,
)
from qa.query.citations import CheckedSentence, Verifier, join_sentences, key_terms, normalize, split_claims
from qa.query.prompts import render
from qa.records import Answer, RetrievalResult
from qa.text.tokens import count_tokens

Messages = list[dict[str, str]]

# A complete sentence at the front of the stream buffer: its end, then any markers, then more text.
_COMPLETE = re.compile(r"^(.*?(?:[。！？!?\n]|\.\s))((?:\s*\[\d{1,3}\])*)(?=\s*[^\s\[])", re.DOTALL)
_REFUSAL = re.compile(r"^\s*(文章没有提到|the article does not say)", re.IGNORECASE)


class ChatBackend(Protocol):
    name: str

    def stream(self, messages: Messages) -> Iterator[str]: ...


class OpenAIChat:
    """Any OpenAI-compatible /v1/chat/completions endpoint, through langchain-openai."""

    def __init__(self, settings: Settings) -> None:
        from langchain_openai import ChatOpenAI

        if not settings.llm_model:
            raise ConfigError("QA_LLM_BASE_URL is set but QA_LLM_MODEL is not; name the chat model.")
        self.name = f"openai:{settings.llm_model}"
        self._base_url = settings.llm_base_url
        self._chat = ChatOpenAI(
            model=settings.llm_model,
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            # langchain-openai sends the limit as `max_completion_tokens`, which llama.cpp's and
            # other compatible servers ignore; the classic field keeps them from running on.
            extra_body={"max_tokens": settings.llm_max_tokens},
            timeout=settings.llm_timeout,
            max_retries=1,
            streaming=True,
        )

    def stream(self, messages: Messages) -> Iterator[str]:
        import openai

        try:
            for chunk in self._chat.stream([(m["role"], m["content"]) for m in messages]):
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        except openai.APIConnectionError:
            raise BackendError(f"Cannot reach the LLM endpoint at {self._base_url}; is it running?") from None
        except openai.APIError as exc:
            raise BackendError(f"The LLM endpoint at {self._base_url} failed: {exc}") from None


class LocalGGUFChat:
    """A GGUF file run in-process by llama-cpp-python (pip install -e '.[llm]')."""

    def __init__(self, settings: Settings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError("QA_LLM_GGUF_PATH needs llama-cpp-python: pip install -e '.[llm]'.") from None
        path = settings.llm_gguf_path
        if path is None or not path.is_file():
            raise ConfigError(f"The GGUF model {path} (QA_LLM_GGUF_PATH) does not exist.")
        self.name = f"gguf:{path.name}"
        self._settings = settings
        self._llama = Llama(model_path=str(path), n_ctx=4096, verbose=False)

    def stream(self, messages: Messages) -> Iterator[str]:
        for event in self._llama.create_chat_completion(
            messages=messages,
            stream=True,
            max_tokens=self._settings.llm_max_tokens,
            temperature=self._settings.llm_temperature,
        ):
            text = event["choices"][0]["delta"].get("content")
            if text:
                yield text


def make_chat(settings: Settings) -> ChatBackend | None:
    """The configured chat backend, or None when no LLM is configured (extractive mode)."""
    if settings.llm_base_url:
        return OpenAIChat(settings)
    if settings.llm_gguf_path is not None:
        return LocalGGUFChat(settings)
    return None


def pack_context(results: Sequence[RetrievalResult], budget: int) -> str:
    """Fenced, numbered chunks in rank order, as many as fit the token budget (the first always)."""
    items: list[str] = []
    used = 0
    for n, result in enumerate(results, start=1):
        chunk = result.chunk
        where = " · ".join(
            filter(None, [chunk.section, "段落 " + ",".join(str(p) for p in chunk.paragraphs)])
        )
        text = chunk.text.replace("```", "'''")
        item = render("context_item", n=str(n), where=where, text=text)
        size = count_tokens(item)
        if items and used + size > budget:
            break
        items.append(item)
        used += size
    return "\n".join(items)


def answer_messages(
    question: str, results: Sequence[RetrievalResult], language: str, budget: int
) -> Messages:
    return [
        {"role": "system", "content": render(f"system.{language}")},
        {
            "role": "user",
            "content": render(f"answer.{language}", context=pack_context(results, budget), question=question),
        },
    ]


class LLMAnswerer:
    """Streams an LLM's answer sentence by sentence, each verified before it is shown."""

    mode = "llm"

    def __init__(
        self, chat: ChatBackend, settings: Settings, verifier: Verifier, fallback: ExtractiveAnswerer
    ) -> None:
        self.chat = chat
        self.settings = settings
        self.verifier = verifier
        self.fallback = fallback

    def answer(
        self, question: str, results: list[RetrievalResult], answerable: bool, language: str | None = None
    ) -> Answer:
        final = None
        for piece in self.answer_stream(question, results, answerable, language):
            if isinstance(piece, Answer):
                final = piece
        assert final is not None
        return final

    def answer_stream(
        self, question: str, results: list[RetrievalResult], answerable: bool, language: str | None = None
    ) -> Iterator[str | Answer]:
        """Yields verified text pieces, then the final Answer (its text is what was yielded)."""
        language = language or language_of(question)
        if not answerable or not results:
            answer = refusal(question, results, language)
            yield answer.answer
            yield answer
            return
        chunks = {n: result.chunk for n, result in enumerate(results, start=1)}
        messages = answer_messages(question, results, language, self.settings.llm_context_tokens)
        raw, buffer, shown = "", "", ""
        kept: list[CheckedSentence] = []
        removed: list[CheckedSentence] = []
        for token in self.chat.stream(messages):
            raw += token
            buffer += token
            while match := _COMPLETE.match(buffer):
                sentence = match.group(0)
                buffer = buffer[match.end() :]
                for piece in self._check(sentence, chunks, kept, removed):
                    shown, text = _append(shown, piece)
                    yield text
        for piece in self._check(buffer, chunks, kept, removed, final=True):
            shown, text = _append(shown, piece)
            yield text
        extra = {
            "llm": self.chat.name,
            "llm_raw_answer": raw,
            "unverified": [{"sentence": s.text, "reason": s.reason} for s in removed],
        }
        if not kept and _REFUSAL.match(raw):
            answer = refusal(question, results, language)
            answer = Answer(**{**answer.__dict__, "mode": self.mode, "extra": {**answer.extra, **extra}})
            yield answer.answer
            yield answer
            return
        if not kept:
            fallback = self.fallback.answer(question, results, True, language)
            extra["fallback"] = "extractive: no sentence of the LLM's answer was supported"
            yield ("\n" if shown else "") + fallback.answer
            yield Answer(**{**fallback.__dict__, "extra": {**fallback.extra, **extra}})
            return
        by_marker: dict[int, list[str]] = {}
        for sentence in kept:
            for n in sentence.markers:
                by_marker.setdefault(n, []).append(sentence.text)
        yield Answer(
            question=question,
            answer=shown,
            refused=False,
            mode=self.mode,
            citations=citations_from_markers(by_marker, results),
            retrieved=tuple(results),
            extra=extra,
        )

    def _check(self, text: str, chunks, kept: list, removed: list, final: bool = False) -> Iterator[str]:
        """Verified sentences of `text`; at the end of the stream, an unfinished one (cut off by
        the token limit) is no claim, and a sentence already shown is not shown again."""
        for claim, markers in split_claims(text):
            if final and not ends_sentence(claim):
                removed.append(CheckedSentence(claim, (), False, "unfinished sentence"))
                continue
            if any(normalize(claim) == normalize(sentence.text) for sentence in kept):
                removed.append(CheckedSentence(claim, (), False, "repeats a sentence already shown"))
                continue  # small models loop
            checked = self.verifier.check(claim, markers, chunks)
            if checked.supported:
                kept.append(checked)
                yield checked.rendered()
            else:
                removed.append(checked)


def _append(shown: str, piece: str) -> tuple[str, str]:
    joined = join_sentences([shown, piece]) if shown else piece
    return joined, joined[len(shown) :]


class LLMCondenser:
    """Rewrites a follow-up into a standalone question with the condense prompt; falls back on
    the extractive rule when the model's rewrite drops the follow-up's own words."""

    def __init__(self, chat: ChatBackend) -> None:
        self.chat = chat

    def __call__(self, question: str, history: Sequence[dict]) -> str:
        if not history:
            return question
        language = language_of(question)
        transcript = "\n".join(
            f"{turn.get('role', 'user')}: {str(turn.get('content', '')).strip()}" for turn in history[-6:]
        ).replace("```", "'''")
        prompt = render(f"condense.{language}", history=transcript, question=question)
        text = "".join(self.chat.stream([{"role": "user", "content": prompt}])).strip()
        rewritten = text.splitlines()[0].strip(" \"'“”") if text else ""
        if _keeps_terms(question, rewritten) and len(rewritten) <= 4 * len(question) + 60:
            return rewritten
        return condense_extractive(question, history)


def _keeps_terms(question: str, rewritten: str) -> bool:
    terms = key_terms(question)
    if not rewritten:
        return False
    if not terms:
        return True
    haystack = normalize(rewritten)
    return sum(term in haystack for term in terms) / len(terms) >= 0.5


Condenser = Callable[[str, Sequence[dict]], str]
