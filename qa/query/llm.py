"""The LLM answerer and the LLM condenser, over any OpenAI-compatible endpoint or a local GGUF.

Backends are one-method contracts (`stream(messages) -> Iterator[str]`): `OpenAIChat` through
langchain-openai (DeepSeek, Qwen, Ollama, vLLM, llama.cpp's server) and `LocalGGUFChat` through
llama-cpp-python in-process (the `llm` extra). The answerer packs retrieved chunks into the
prompt up to a token budget (tiktoken) and streams the reply as a draft (qa/query/answerer.py).
`LLMSecondOpinion` asks the same endpoint whether a quote supports a sentence (QA_VERIFY_WITH_LLM),
for verify.py's undecided sentences. What it does not do: retrieval, verification, or any decision
to refuse (the pipeline does those).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from qa.config import Settings
from qa.errors import BackendError, ConfigError
from qa.query.answerer import Draft
from qa.query.answering import condense_extractive
from qa.query.prompts import PROMPTS_DIR, render
from qa.records import RetrievalResult
from qa.text.language import language_of
from qa.text.normalize import compact as normalize
from qa.text.terms import key_terms
from qa.text.tokens import count_tokens

Messages = list[dict[str, str]]


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


# Chat backends by name, like the embedders: the first whose setting is given is used.
CHAT_BACKENDS: dict[str, tuple[Callable[[Settings], bool], Callable[[Settings], ChatBackend]]] = {
    "openai": (lambda settings: bool(settings.llm_base_url), OpenAIChat),
    "gguf": (lambda settings: settings.llm_gguf_path is not None, LocalGGUFChat),
}


def make_chat(settings: Settings) -> ChatBackend | None:
    """The configured chat backend, or None when no LLM is configured (extractive mode)."""
    for configured, backend in CHAT_BACKENDS.values():
        if configured(settings):
            return backend(settings)
    return None


def pack_context(results: Sequence[RetrievalResult], budget: int, prompts: Path = PROMPTS_DIR) -> str:
    """Fenced, numbered chunks in rank order, as many as fit the token budget (the first always)."""
    items: list[str] = []
    used = 0
    for n, result in enumerate(results, start=1):
        chunk = result.chunk
        where = " · ".join(
            filter(None, [chunk.section, "段落 " + ",".join(str(p) for p in chunk.paragraphs)])
        )
        text = chunk.text.replace("```", "'''")
        item = render("context_item", prompts, n=str(n), where=where, text=text)
        size = count_tokens(item)
        if items and used + size > budget:
            break
        items.append(item)
        used += size
    return "\n".join(items)


def answer_messages(
    question: str,
    results: Sequence[RetrievalResult],
    language: str,
    budget: int,
    prompts: Path = PROMPTS_DIR,
) -> Messages:
    context = pack_context(results, budget, prompts)
    return [
        {"role": "system", "content": render(f"system.{language}", prompts)},
        {
            "role": "user",
            "content": render(f"answer.{language}", prompts, context=context, question=question),
        },
    ]


class LLMAnswerer:
    """Drafts an answer with a chat model: the retrieved chunks packed into the prompt up to a
    token budget, the reply streamed as it comes. The pipeline verifies it."""

    mode = "llm"

    def __init__(self, chat: ChatBackend, settings: Settings) -> None:
        self.chat = chat
        self.settings = settings

    def draft(
        self, question: str, results: Sequence[RetrievalResult], language: str
    ) -> Iterator[str | Draft]:
        messages = answer_messages(
            question, results, language, self.settings.llm_context_tokens, self.settings.prompts_dir
        )
        raw = ""
        for token in self.chat.stream(messages):
            raw += token
            yield token
        yield Draft(backend=self.chat.name, raw=raw, may_be_cut=True)


class LLMCondenser:
    """Rewrites a follow-up into a standalone question with the condense prompt; falls back on
    the extractive rule when the model's rewrite drops the follow-up's own words."""

    def __init__(self, chat: ChatBackend, prompts: Path = PROMPTS_DIR) -> None:
        self.chat = chat
        self.prompts = prompts

    def __call__(self, question: str, history: Sequence[dict]) -> str:
        if not history:
            return question
        language = language_of(question)
        transcript = "\n".join(
            f"{turn.get('role', 'user')}: {str(turn.get('content', '')).strip()}" for turn in history[-6:]
        ).replace("```", "'''")
        prompt = render(f"condense.{language}", self.prompts, history=transcript, question=question)
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


_YES = re.compile(r"^\W*(?:yes|是|支持|对)(?![a-z])", re.IGNORECASE)
_NO = re.compile(r"^\W*(?:no|否|不)(?![a-z])", re.IGNORECASE)


class LLMSecondOpinion:
    """The chat model's yes/no on whether a quote supports a sentence (the verify.* prompt).

    verify.py asks only about sentences its deterministic checks cannot decide; a reply that is
    neither yes nor no, or a failing endpoint, is no opinion (None), and the sentence stays removed.
    """

    def __init__(self, chat: ChatBackend, prompts: Path = PROMPTS_DIR) -> None:
        self.chat = chat
        self.prompts = prompts

    def __call__(self, sentence: str, quote: str) -> bool | None:
        def fenced(text: str) -> str:
            return text.replace("```", "'''")  # the data cannot close its fence

        prompt = render(
            f"verify.{language_of(sentence)}", self.prompts, sentence=fenced(sentence), quote=fenced(quote)
        )
        try:
            reply = "".join(self.chat.stream([{"role": "user", "content": prompt}])).strip()
        except BackendError:
            return None
        if _YES.match(reply):
            return True
        if _NO.match(reply):
            return False
        return None
