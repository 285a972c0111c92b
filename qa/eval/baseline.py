"""The plain LangChain recipe, run beside us so every number `qa eval` reports has a peer.

What it does: reads the configured documents as raw text (no page-break repair, no sections),
splits them with RecursiveCharacterTextSplitter (300 characters, 50 overlap, Chinese
separators), embeds them with the same embedder into a Chroma collection in a temp folder,
and answers with the text of the top-k chunks of a similarity search.
What it does not do: refuse, condense follow-ups, pick sentences or verify citations.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_text_splitters import RecursiveCharacterTextSplitter

from qa.config import Settings
from qa.errors import InputError
from qa.index.embeddings import Embeddings, make_embeddings
from qa.ingest.documents import SUPPORTED_SUFFIXES
from qa.query.pipeline import Retrieval
from qa.records import Answer, Chunk, Citation, RetrievalResult

CHUNK_SIZE = 300
CHUNK_OVERLAP = 50
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", " ", ""]
COLLECTION = "baseline"


def recipe() -> dict:
    """What the baseline is, for the report's settings."""
    return {
        "splitter": "RecursiveCharacterTextSplitter",
        "chunk_size": CHUNK_SIZE,
        "chunk_overlap": CHUNK_OVERLAP,
        "separators": SEPARATORS,
        "store": "Chroma similarity_search (default distance)",
    }


def read_raw(paths: Sequence[Path]) -> list[tuple[str, str]]:
    """(doc_id, text) of every file, read as it is on disk: the recipe does no repair."""
    found: list[tuple[str, str]] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES)
            found.extend((file.relative_to(path).as_posix(), _read(file)) for file in files)
        else:
            found.append((path.name, _read(path)))
    if not found:
        raise InputError("The baseline found no documents to read (QA_DOCUMENTS).")
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"The baseline cannot read {path} as UTF-8 text: {exc}.") from None


class Baseline:
    """Speaks the two calls the eval runner makes of a Pipeline: retrieve and ask."""

    mode = "baseline"

    def __init__(self, settings: Settings, embeddings: Embeddings | None = None) -> None:
        self.settings = settings
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, separators=SEPARATORS
        )
        documents = read_raw(settings.documents)
        pieces = splitter.create_documents(
            [text for _, text in documents], metadatas=[{"doc_id": doc_id} for doc_id, _ in documents]
        )
        if not pieces:
            raise InputError("The baseline found no text in the configured documents.")
        self.chunk_count = len(pieces)
        self._folder = tempfile.mkdtemp(prefix="qa-baseline-")
        self._client = chromadb.PersistentClient(
            path=self._folder, settings=ChromaSettings(anonymized_telemetry=False)
        )
        self.vectorstore = Chroma(
            collection_name=COLLECTION,
            client=self._client,
            embedding_function=embeddings or make_embeddings(settings),
        )
        self.vectorstore.add_documents(pieces, ids=[f"baseline:{n}" for n in range(len(pieces))])

    def retrieve(self, question: str, k: int | None = None) -> Retrieval:
        """Top-k by Chroma's default squared L2; on unit vectors 1 - d/2 is the cosine similarity."""
        started = time.perf_counter()
        found = self.vectorstore.similarity_search_with_score(question, k=k or self.settings.top_k)
        results = tuple(
            RetrievalResult(rank, _chunk(document.id or f"baseline:{rank}", document), 1 - distance / 2)
            for rank, (document, distance) in enumerate(found, start=1)
        )
        return Retrieval(question, results, (time.perf_counter() - started) * 1000)

    def ask(self, question: str, history: Sequence[dict] = ()) -> Answer:
        """The recipe's "answer": the retrieved chunks themselves; history is ignored."""
        started = time.perf_counter()
        retrieval = self.retrieve(question, self.settings.top_k)
        citations = tuple(
            Citation(result.rank, result.chunk, result.chunk.text) for result in retrieval.results
        )
        return Answer(
            question=question,
            answer="\n\n".join(f"{result.chunk.text} [{result.rank}]" for result in retrieval.results),
            refused=False,
            mode=self.mode,
            citations=citations,
            retrieved=retrieval.results,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def close(self) -> None:
        self._client.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _chunk(chunk_id: str, document) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        doc_id=document.metadata.get("doc_id", ""),
        title="",
        section="",
        paragraphs=(),
        text=document.page_content,
        search_text=document.page_content,
    )
