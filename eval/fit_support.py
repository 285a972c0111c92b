"""Fit the answerability model (qa/query/support.py) on the tuning parts of every dev set.

Every tuning item of every corpus is put to retrieval as the pipeline puts it (injections set
aside, follow-ups condensed, outline questions left out: they are answered from headings). Each
retrieved chunk is one example: a chunk holding a gold quote of an answerable item is positive,
every chunk retrieved for an unanswerable item negative; the other chunks of answerable items
say nothing either way and are left out. Each corpus weighs the same, and within it positives
and negatives weigh the same, so neither the article nor the many answerable items decide.
A logistic regression (L2, on standardised features, each weight of a known sign, by scipy's
L-BFGS-B) gives the weights; the
threshold is the highest that leaves at most 5% of the answerable tuning questions below it
(a question's support is its best chunk's). It prints a Calibration to paste into support.py and
how it refuses on both parts, the held-out part only reported.

    python eval/fit_support.py --work /tmp/fit --other /tmp/fit-minilm --other-model DIR
    python eval/fit_support.py --work /tmp/fit --other /tmp/fit-minilm --other-model DIR --stored

`--work` holds one index per corpus made with the bundled embedder (<work>/article,
<work>/handbook, <work>/edu, as eval/fit_fusion.py makes them), `--other` the same made with
another (the tests' MiniLM). The bundled embedder's calibration is fitted on its own indexes;
the default, without the raw cosine, on both, so that it holds for more than one embedder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from qa.config import PROJECT_ROOT, load_settings
from qa.eval.runner import supports
from qa.index.embeddings import embedder_identity
from qa.query.answering import strip_injection
from qa.query.outline import outline_kind
from qa.query.pipeline import Pipeline
from qa.query.retrieval import Retriever
from qa.query.support import DEFAULT_CALIBRATION, FACT_PENALTY, Calibration, calibration_for, support
from qa.records import Evidence
from qa.text.terms import key_terms

SETS = PROJECT_ROOT / "eval" / "sets"
# manual_en (English pages, Chinese questions) is left out: refitted with its tuning part too, the
# model refused the same unanswerable tuning questions (17 of 23) with a raw-cosine weight of 7.6
# against 0.4, a calibration leaning on one embedder's similarity range for no gain.
CORPORA = ("article", "handbook", "edu")
FEATURES = tuple(name for name in Evidence.__dataclass_fields__ if name != "lacks_fact")  # a rule
KEEP_ANSWERABLE = 0.95
SPLITS = ("tune", "heldout")
# The direction each feature may push support, known before any fitting: more of the question
# found, or both searches agreeing, never lowers it; words the collection never uses never raise
# it. With a few dozen unanswerable tuning questions a free fit flips signs to fit noise.
SIGNS = {"unknown": -1}
L2 = 0.1  # on standardised features, with each corpus's two groups weighing 1 each


def examples(corpus: str, split: str, work: Path, **embedder: str) -> list[dict]:
    """One record per question: whether it is answerable and each retrieved chunk's evidence,
    with whether the chunk holds a gold quote. `embedder`: the settings of the index's embedder."""
    pipeline = Pipeline(load_settings(vectorstore_dir=work / corpus, **embedder))
    out = []
    for line in (SETS / f"{corpus}_dev.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["split"] != split:
            continue
        question, _ = strip_injection(item["question"])
        if question and item.get("history"):
            question = pipeline.condense(question, item["history"])
        if not question or not key_terms(question) or outline_kind(question):
            continue
        with pipeline.reading() as store:
            results = Retriever(store, pipeline.embeddings).retrieve(question, pipeline.settings.top_k)
        gold = item.get("gold_quotes") or []
        out.append(
            {
                "corpus": corpus,
                "group": f"{embedder.get('embedder', 'bundled')}/{corpus}",
                "id": item["id"],
                "answerable": bool(item.get("answerable", True)),
                "chunks": [(r.evidence, bool(gold) and supports(r.chunk.text, gold)) for r in results],
            }
        )
    return out


def fit(questions: list[dict], features: tuple[str, ...]) -> Calibration:
    rows, labels, weights, offsets = [], [], [], []
    for group in sorted({q["group"] for q in questions}):
        mine = [q for q in questions if q["group"] == group]
        positives = [e for q in mine if q["answerable"] for e, holds in q["chunks"] if holds]
        negatives = [e for q in mine if not q["answerable"] for e, _ in q["chunks"]]
        for group, label in ((positives, 1.0), (negatives, 0.0)):
            for evidence in group:
                rows.append([evidence.features()[name] for name in features])
                offsets.append(FACT_PENALTY * evidence.lacks_fact)
                labels.append(label)
                weights.append(1.0 / len(group))
    x, y, w, offset = np.array(rows), np.array(labels), np.array(weights), np.array(offsets)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = theta[0] + z @ theta[1:] + offset
        p = 1.0 / (1.0 + np.exp(-logit))
        eps = 1e-12
        value = (
            -np.sum(w * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
            + L2 * theta[1:] @ theta[1:] / 2
        )
        error = w * (p - y)
        grad = np.concatenate([[error.sum()], z.T @ error + L2 * theta[1:]])
        return value, grad

    bounds = [(None, None)] + [(None, 0.0) if SIGNS.get(name, 1) < 0 else (0.0, None) for name in features]
    theta = minimize(loss, np.zeros(len(features) + 1), jac=True, method="L-BFGS-B", bounds=bounds).x
    raw = theta[1:] / scale
    bias = theta[0] - float(raw @ mean)
    weights = {name: round(float(value), 3) for name, value in zip(features, raw, strict=True)}
    calibration = Calibration(round(float(bias), 3), {name: w for name, w in weights.items() if w})
    return threshold_for(questions, calibration)


def best_support(question: dict, calibration: Calibration) -> float:
    return max((support(e, calibration) for e, _ in question["chunks"]), default=0.0)


def threshold_for(questions: list[dict], calibration: Calibration) -> Calibration:
    """The highest threshold that leaves at most 5% of the answerable questions below it."""
    answerable = sorted(best_support(q, calibration) for q in questions if q["answerable"])
    below = math.floor((1 - KEEP_ANSWERABLE) * len(answerable))
    threshold = answerable[below] if answerable else 0.5
    return Calibration(calibration.bias, calibration.weights, round(threshold - 0.0005, 3))


def report(questions: list[dict], calibration: Calibration) -> None:
    for group in sorted({q["group"] for q in questions}):
        mine = [q for q in questions if q["group"] == group]
        answerable = [q for q in mine if q["answerable"]]
        unanswerable = [q for q in mine if not q["answerable"]]
        refused = [q for q in unanswerable if best_support(q, calibration) < calibration.threshold]
        false = [q for q in answerable if best_support(q, calibration) < calibration.threshold]
        print(
            f"{group:30s} refused {len(refused)}/{len(unanswerable)} unanswerable, "
            f"{len(false)}/{len(answerable)} answerable "
            f"(false refusals {len(false) / max(1, len(answerable)):.3f})"
            + (
                "  missed: " + ", ".join(q["id"] for q in unanswerable if q not in refused)
                if refused != unanswerable
                else ""
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="one index per corpus, bundled embedder")
    parser.add_argument("--other", type=Path, help="the same corpora indexed by another embedder")
    parser.add_argument("--other-embedder", default="sentence-transformers")
    parser.add_argument("--other-model", default="", help="that embedder's model")
    parser.add_argument("--stored", action="store_true", help="report the stored calibrations instead")
    args = parser.parse_args(argv)
    bundled = {split: [q for c in CORPORA for q in examples(c, split, args.work)] for split in SPLITS}
    other = {split: [] for split in SPLITS}
    if args.other:
        embedder = {"embedder": args.other_embedder, "embedding_model": args.other_model}
        other = {
            split: [q for c in CORPORA for q in examples(c, split, args.other, **embedder)]
            for split in SPLITS
        }
    if args.stored:
        own = calibration_for(embedder_identity(load_settings(vectorstore_dir=args.work / "article")))
        default = DEFAULT_CALIBRATION
    else:  # fitted on the tuning parts only; the held-out parts are only reported
        own = fit(bundled["tune"], FEATURES)
        # the default must hold for embedders it was not fitted on: no raw cosine, fitted on both
        default = fit(bundled["tune"] + other["tune"], tuple(name for name in FEATURES if name != "dense"))
    for name, calibration, parts in (("bundled", own, bundled), ("default", default, None)):
        print(f"== {name}: {calibration}")
        for split in SPLITS:
            print(f"-- {split}")
            report(parts[split] if parts else bundled[split] + other[split], calibration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
