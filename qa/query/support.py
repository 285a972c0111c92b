"""How sure retrieval is that a chunk answers the question: a logistic model per embedder.

The evidence (`qa.records.Evidence`) means the same in any collection: the chunk's cosine
against the cosines of the question's whole candidate pool (a z-score, so neither the
embedder's range nor the collection's topic shifts it), its idf-weighted coverage of the
question's concepts, the share one of its sentences covers (a question whose words are
scattered over a chunk is about something else), BM25 relative to the question's own idf mass,
whether the dense and keyword searches both rank it near the top, and the share of the
question's words the collection never uses. Whether a sentence holds the kind of fact asked
for is a fixed rule, not a weight (a question for a number, a date or a place is not answered
by a chunk about its subject that holds none: FACT_PENALTY).

The raw cosine means something only for the embedder that made it (multilingual-e5 puts
unrelated texts at 0.8, MiniLM related ones at 0.4), so calibrations are kept per embedder
identity, the one an index's manifest records, and an embedder without one gets
DEFAULT_CALIBRATION, which leaves the raw cosine out. eval/fit_support.py fits them on the
tuning parts of all three dev corpora, never on their held-out parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qa.index.embeddings import BUNDLED_IDENTITY
from qa.records import Evidence

FACT_SHARE = 0.3  # of the question, covered by a sentence holding the fact (retrieval.binds)
# A rule, not a fitted weight: a chunk with no sentence holding the asked kind of fact (or about
# a name the question does not mean) does not answer, however well it matches: the penalty
# outweighs any evidence. Fitted as a weight, the few tuning examples made it too weak for a
# chunk matching every word to answer "how many" without a number.
FACT_PENALTY = -10.0


@dataclass(frozen=True)
class Calibration:
    """Logistic weights on the evidence, by feature name, and the support an answer needs."""

    bias: float
    weights: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.5  # at most 5% of the tuning parts' answerable questions fall below


# Fitted with every feature, each weight held to its known sign: BM25 over the idf mass and the
# unknown words came out at 0 (the coverages carry what they know); the raw cosine adds a little
# for the embedder whose range it was fitted on.
CALIBRATIONS = {
    BUNDLED_IDENTITY: Calibration(
        -2.891,
        {"dense": 0.434, "dense_z": 0.409, "coverage": 2.355, "sentence": 3.712, "agree": 1.779},
        threshold=0.353,
    ),
}
# Any other embedder (sentence-transformers, an OpenAI-compatible endpoint): fitted without the raw
# cosine on the bundled embedder's indexes and MiniLM's together, so that it holds for more than
# one model; the z-score then counts for little (its spread differs between the two).
DEFAULT_CALIBRATION = Calibration(
    -2.263, {"dense_z": 0.033, "coverage": 3.267, "sentence": 4.505, "agree": 2.573}, threshold=0.228
)


def calibration_for(identity: str) -> Calibration:
    """The weights fitted for this embedder identity, else the embedder-free default."""
    return CALIBRATIONS.get(identity, DEFAULT_CALIBRATION)


def support(evidence: Evidence, c: Calibration) -> float:
    """Estimated probability that the chunk answers, by the embedder's calibration `c`."""
    features = evidence.features()
    logit = c.bias + sum(weight * features[name] for name, weight in c.weights.items())
    logit += FACT_PENALTY * evidence.lacks_fact
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
