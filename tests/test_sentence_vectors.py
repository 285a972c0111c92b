"""Sentence vectors stored at ingest: every sentence sentence choice compares is there, equal to
what embedding it at question time gives, and a warm English question embeds only itself."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from qa.config import Settings
from qa.index.sentence_vectors import SentenceVectors, sentence_texts
from qa.query.pipeline import Pipeline

ENGLISH = [
    "How many institutions have become partners of the Belt and Road green coalition?",
    "Which French president issued a joint initiative on biodiversity with President Xi?",
    "What is the author's job title?",
    "In which city is the Belt and Road Environmental Technology Exchange and Transfer Center?",
]


class CountingEmbeddings(Embeddings):
    """The real embedder, counting the texts it is asked to embed on the query side."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.queries: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self.inner.embed_query(text)


def test_ingest_stores_the_vector_of_every_sentence_of_the_index(pipeline: Pipeline, article_settings):
    chunks = [result.chunk for result in pipeline.retrieve("生态环境国际合作", k=50).results]
    texts = [text for chunk in chunks for text in sentence_texts(chunk)]
    assert len(chunks) >= 20 and len(texts) > len(chunks)
    stored = SentenceVectors(article_settings.vectorstore_dir, pipeline.identity)
    vectors = stored.get(texts)
    stored.close()
    assert all(vector is not None for vector in vectors)
    # the very vector a question would compute (a batch at ingest, one at a time here)
    inner = pipeline.embeddings.inner
    assert all(vectors[i] == inner.embed_query(texts[i]) for i in range(0, len(texts), 7))


def test_a_warm_english_question_embeds_only_itself(article_settings: Settings):
    pipeline = Pipeline(article_settings)
    counting = CountingEmbeddings(pipeline.embeddings.inner)
    pipeline.embeddings.inner = counting
    for question in ENGLISH:
        counting.queries.clear()
        answer = pipeline.ask(question)
        assert not answer.refused, question
        assert counting.queries == [question]


def test_stored_sentence_vectors_change_no_answer(pipeline: Pipeline, article_settings: Settings):
    without = Pipeline(article_settings)
    without.embeddings.stored = None  # every sentence embedded at question time, as before
    for question in ENGLISH:
        stored, embedded = pipeline.ask(question), without.ask(question)
        assert stored.answer == embedded.answer
        assert [c.chunk.chunk_id for c in stored.citations] == [c.chunk.chunk_id for c in embedded.citations]


def test_an_index_without_stored_sentences_still_answers(tmp_path, pipeline: Pipeline):
    """No cache file (an index from before, a host that did not ingest): nothing to read, no file made."""
    stored = SentenceVectors(tmp_path, pipeline.identity)
    assert stored.get(
        ["习近平主席2019年与法国总统马克龙共同发布《中法生物多样性保护和气候变化北京倡议》。"]
    ) == [None]
    assert list(tmp_path.iterdir()) == []
