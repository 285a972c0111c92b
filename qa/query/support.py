"""How sure retrieval is that a chunk answers the question: a logistic model per embedder.

Features: the chunk's dense cosine, its idf-weighted coverage of the question's concepts, the
share of the question's words the collection never uses, and whether a sentence of the chunk
holds the kind of fact asked for (a question for a number, a date or a place is not answered by
a chunk about its subject that holds none: FACT_PENALTY on the logit).

A cosine means something only for the embedder that made it (multilingual-e5 puts unrelated
texts at 0.8, MiniLM related ones at 0.4), so the weights are kept per embedder identity, the
one an index's manifest records. An embedder without a calibration of its own gets
DEFAULT_CALIBRATION, which leaves the cosine out: fitted on the tuning parts of all three dev
corpora, coverage, unknown words and the fact rule separate answerable from unanswerable
questions as well as the bundled embedder's cosine model does there (refusal accuracy 0.84,
false refusals 0.04 at a threshold that keeps 95% of answerable questions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa.index.embeddings import BUNDLED_IDENTITY

FACT_PENALTY = -4.0
FACT_SHARE = 0.3  # the share of the question a sentence holding the fact must cover


@dataclass(frozen=True)
class Calibration:
    """Logistic weights on (cosine, coverage, unknown) and the support an answer needs."""

    bias: float
    dense: float
    coverage: float
    unknown: float
    threshold: float  # at most 5% of the tuning parts' answerable questions fall below


CALIBRATIONS = {
    # The bundled embedder, fitted on the article's dev set (cosines of 0.78-0.92).
    BUNDLED_IDENTITY: Calibration(-7.26, 11.00, 1.29, -3.71, threshold=0.55),
}
# Any other embedder (sentence-transformers, an OpenAI-compatible endpoint): no cosine term.
DEFAULT_CALIBRATION = Calibration(3.39, 0.0, 0.46, -2.22, threshold=0.843)


def calibration_for(identity: str) -> Calibration:
    """The weights fitted for this embedder identity, else the embedder-free default."""
    return CALIBRATIONS.get(identity, DEFAULT_CALIBRATION)


def support(dense: float, coverage: float, unknown: float, fact: float, c: Calibration) -> float:
    """Estimated probability that the chunk answers, by the embedder's calibration `c`; `fact` is
    the chunk's fact_share (1: no fact asked)."""
    logit = c.bias + c.dense * dense + c.coverage * coverage + c.unknown * unknown
    if fact < FACT_SHARE:
        logit += FACT_PENALTY
    return 1.0 / (1.0 + math.exp(-logit))
