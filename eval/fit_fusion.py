"""Fit hybrid retrieval's fusion weights on the tuning parts of every dev set, never the held-out.

For each set of weights (keyword weight for Chinese questions, for English ones, coverage weight,
and the weight of the best single sentence's share by which the top k are reordered) every
answerable tuning item of every corpus is retrieved (multi-turn items through the
pipeline's own condensing) and scored by MRR@5 against its gold quotes; the sets are ranked by
the mean over corpora, so no one corpus decides. The winner goes into qa/query/retrieval.py by
hand, with the numbers in its comment.

    python eval/fit_fusion.py --work /tmp/fusion          # ingests once into /tmp/fusion/<corpus>
    python eval/fit_fusion.py --work /tmp/fusion --split heldout   # only to report, never to fit
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from qa.config import PROJECT_ROOT, load_settings
from qa.eval.runner import supports
from qa.ingest.sync import ingest
from qa.query import retrieval
from qa.query.outline import outline_kind
from qa.query.pipeline import Pipeline

SETS = PROJECT_ROOT / "eval" / "sets"
CORPORA = {
    "article": None,
    "handbook": PROJECT_ROOT / "eval/corpora/handbook",
    "edu": PROJECT_ROOT / "eval/corpora/edu",
    "manual_en": PROJECT_ROOT / "eval/corpora/manual_en",
}
GRID = list(
    itertools.product([0.2, 0.3, 0.4, 0.5, 0.6], [0.5, 0.6, 0.7], [0.2, 0.3, 0.4], [0.0, 0.2, 0.4, 0.6])
)
WEIGHTS = ("KEYWORD_WEIGHT", "KEYWORD_WEIGHT_EN", "COVERAGE_WEIGHT", "SENTENCE_WEIGHT")


def questions(corpus: str, split: str, pipeline: Pipeline) -> list[tuple[str, list[str]]]:
    """(standalone question, gold quotes) of the answerable items of one part; outline questions
    are answered from headings, not ranked, so they do not vote."""
    out = []
    for line in (SETS / f"{corpus}_dev.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["split"] != split or not item.get("gold_quotes"):
            continue
        question = item["question"]
        if item.get("history"):
            question = pipeline.condense(question, item["history"])
        if not outline_kind(question):
            out.append((question, item["gold_quotes"]))
    return out


def mrr(pipeline: Pipeline, items: list[tuple[str, list[str]]]) -> float:
    total = 0.0
    for question, gold in items:
        results = retrieval.Retriever(pipeline.store, pipeline.embeddings).retrieve(question, 5)
        ranks = [r.rank for r in results if supports(r.chunk.text, gold)]
        total += 1 / ranks[0] if ranks else 0.0
    return total / len(items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the corpora's indexes")
    parser.add_argument("--split", default="tune", choices=("tune", "heldout"))
    args = parser.parse_args(argv)
    scores: dict[tuple, dict[str, float]] = {weights: {} for weights in GRID}
    current = tuple(getattr(retrieval, name) for name in WEIGHTS)
    for corpus, folder in CORPORA.items():
        settings = load_settings(vectorstore_dir=args.work / corpus)
        ingest(settings, [folder] if folder else None, progress=False)
        pipeline = Pipeline(settings)
        items = questions(corpus, args.split, pipeline)
        for weights in GRID + [current]:
            for name, value in zip(WEIGHTS, weights, strict=True):
                setattr(retrieval, name, value)
            scores.setdefault(weights, {})[corpus] = mrr(pipeline, items)
        print(f"{corpus}: {len(items)} questions", file=sys.stderr)
    ranked = sorted(scores.items(), key=lambda kv: -sum(kv[1].values()) / len(kv[1]))
    print("zh_kw  en_kw  cover  sent   mean_mrr@5  " + "  ".join(CORPORA))
    for weights, by_corpus in ranked[:10] + [(current, scores[current])]:
        mean = sum(by_corpus.values()) / len(by_corpus)
        cells = "  ".join(f"{by_corpus[c]:.3f}" for c in CORPORA)
        mark = "  <- current" if weights == current else ""
        print("  ".join(f"{w:<5}" for w in weights) + f"  {mean:.3f}       {cells}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
