"""Find the chunks that answer a question, best first, each with a score.

Dense retrieval over the Chroma index; exposed both as a plain `Retriever` and as a
LangChain `BaseRetriever` for chains that want one.
"""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from qa.chunking import Chunk
from qa.store import ChunkStore


@dataclass(frozen=True)
class RetrievalResult:
    rank: int
    chunk: Chunk
    score: float

    def as_json(self) -> dict:
        return {
            "rank": self.rank,
            "chunk_id": self.chunk.chunk_id,
            "doc_id": self.chunk.doc_id,
            "section": self.chunk.section,
            "paragraphs": list(self.chunk.paragraphs),
            "text": self.chunk.text,
            "score": round(self.score, 4),
        }


class Retriever:
    def __init__(self, store: ChunkStore, embeddings: Embeddings) -> None:
        self.store = store
        self.embeddings = embeddings

    def retrieve(self, question: str, k: int) -> list[RetrievalResult]:
        vector = self.embeddings.embed_query(question)
        hits = self.store.search(vector, k)
        return [RetrievalResult(rank, chunk, score) for rank, (chunk, score) in enumerate(hits, start=1)]

    def is_answerable(self, question: str, results: list[RetrievalResult]) -> bool:
        """Whether the collection answers the question at all (refusal when not).

        Uncalibrated for now: any result counts; the retrieval issue calibrates it.
        """
        return bool(results)


class LangChainRetriever(BaseRetriever):
    """The same retrieval behind LangChain's interface; metadata keeps rank, score and paragraphs."""

    retriever: Retriever
    k: int = 5

    model_config = {"arbitrary_types_allowed": True}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        return [
            LCDocument(page_content=result.chunk.text, metadata=result.as_json())
            for result in self.retriever.retrieve(query, self.k)
        ]
