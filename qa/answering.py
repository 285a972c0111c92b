"""Answerers: turn a question and its retrieved chunks into an answer with `[n]` citations.

The evidence answerer (the current default) quotes, from each of the top chunks, the sentence
that shares most with the question, each behind its marker; it states nothing the chunks
do not say. Fluent extractive and LLM answerers come with the answering issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.chunking import split_sentences
from qa.citations import Citation
from qa.retrieval import RetrievalResult

EVIDENCE_CHUNKS = 3


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    refused: bool
    mode: str
    citations: tuple[Citation, ...]
    retrieved: tuple[RetrievalResult, ...]
    latency_ms: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "mode": self.mode,
            "citations": [citation.as_json() for citation in self.citations],
            "retrieved": [result.as_json() for result in self.retrieved],
            "latency_ms": round(self.latency_ms, 1),
            **self.extra,
        }


def _bigrams(text: str) -> set[str]:
    compact = "".join(text.lower().split())
    return {compact[i : i + 2] for i in range(len(compact) - 1)}


def best_sentence(question: str, text: str) -> str:
    """The sentence of `text` sharing the most character bigrams with the question."""
    wanted = _bigrams(question)
    sentences = split_sentences(text) or [text]
    return max(sentences, key=lambda sentence: len(wanted & _bigrams(sentence))).strip()


class EvidenceAnswerer:
    mode = "extractive"

    def answer(self, question: str, results: list[RetrievalResult], answerable: bool) -> Answer:
        citations = tuple(
            Citation(n, result.chunk, best_sentence(question, result.chunk.text))
            for n, result in enumerate(results[:EVIDENCE_CHUNKS], start=1)
        )
        lines = [f"{citation.quote} [{citation.n}]" for citation in citations]
        return Answer(
            question=question,
            answer="\n".join(lines),
            refused=False,
            mode=self.mode,
            citations=citations,
            retrieved=tuple(results),
        )
