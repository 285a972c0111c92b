"""The hybrid retriever behind LangChain's `BaseRetriever`, for LangChain chains and agents.

A module of its own because LangChain's retriever base brings its tracers and langsmith along,
about a third of a second that `qa ask`, which never uses it, need not import.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

from qa.query.retrieval import Retriever


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
