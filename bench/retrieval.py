"""Warm retrieve latency beside the bare query-embedding time, on the article and on 10k/100k chunks.

Run: .venv/bin/python bench/retrieval.py [--sizes 10000 100000] [--queries N] [--keep DIR]

The synthetic collections recombine the article's real sentences into new chunks and give
them vectors mixed from the real chunk vectors (normalized random mixes), because embedding
100,000 chunks with the bundled model takes hours on two cores. The embedder is the floor;
the overhead above it (Chroma, BM25, fusion, fetching texts) is what retrieval owns.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.config import PROJECT_ROOT, load_settings
from qa.index.backend import index_backend
from qa.index.embeddings import embedder_identity, make_embeddings
from qa.index.local import LocalIndex
from qa.index.store import Manifest, chunk_metadata, now_stamp
from qa.ingest.sync import ingest
from qa.query.retrieval import Retriever, chunk_records
from qa.records import Chunk
from qa.text.sentences import split_sentences

QUESTIONS = PROJECT_ROOT / "eval" / "sets" / "article_dev.jsonl"
# Not in the dev set, so the measured questions are all new to the retriever.
WARM_UP = ["生态环境国际合作取得了哪些成绩？", "What is the article about?", "綠色發展"]


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def measure(retriever: Retriever, questions: list[str]) -> dict[str, float]:
    """Bare embedding and full retrieve, interleaved per question so load affects both alike.

    The embedding is timed exactly as the retriever calls it (the same text, the embedder's own
    query prefix, no cache); every question is asked once, so nothing is answered from a cache.
    A second pass empties the chunk-record cache before each question: the price of a fetch.
    A query-vector cache in front of the embedder (the pipeline's) is bypassed on both sides:
    it would remember the baseline's vector and hand it to the retrieve, which then embeds nothing.
    """
    embedder = getattr(retriever.embeddings, "inner", retriever.embeddings)
    if embedder is not retriever.embeddings:
        retriever = Retriever(retriever.store, embedder, retriever.mode, retriever.documents)
    for question in WARM_UP:
        retriever.retrieve(question, 5)
    embed, full, cold = [], [], []
    for question in questions:
        started = time.perf_counter()
        retriever.embeddings.embed_query(retriever.query_text(question))
        embed.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        retriever.retrieve(question, 5)
        full.append((time.perf_counter() - started) * 1000)
    records = chunk_records(retriever.store)
    for question in questions:
        records.clear()
        started = time.perf_counter()
        retriever.retrieve(question, 5)
        cold.append((time.perf_counter() - started) * 1000)
    (e50, e95), (r50, r95), (c50, _) = percentiles(embed), percentiles(full), percentiles(cold)
    return {"embed_p50": e50, "embed_p95": e95, "retrieve_p50": r50, "retrieve_p95": r95, "cold_p50": c50}


def synthesize(settings, embeddings, size: int, target, seed: int = 0) -> None:  # noqa: ANN001
    """A collection of `size` chunks from recombined real sentences and mixed real vectors."""
    source = index_backend(settings).open_for_query(embeddings, embedder_identity(settings))
    records = source.collection.get(include=["embeddings", "metadatas", "documents"])
    base = np.asarray(records["embeddings"], dtype=np.float32)
    sentences = [s for text in records["documents"] for s in split_sentences(text) if len(s) > 8]
    manifest = source.manifest
    source.close()
    rng = random.Random(seed)
    generator = np.random.default_rng(seed)
    stamp = now_stamp()
    with index_backend(target).open_for_writing(embeddings, rebuild=True) as store:
        for start in range(0, size, 4000):
            count = min(4000, size - start)
            picks = generator.integers(0, len(base), size=(count, 3))
            weights = generator.dirichlet(np.ones(3), size=count).astype(np.float32)
            vectors = np.einsum("nk,nkd->nd", weights, base[picks])
            vectors += generator.normal(0, 0.01, vectors.shape).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            chunks = []
            for number in range(start, start + count):
                text = "".join(rng.sample(sentences, rng.randint(1, 3)))
                chunks.append(Chunk(f"syn:{number}", "synthetic", "synthetic", "", (number,), text, text))
            store.collection.add(
                ids=[c.chunk_id for c in chunks],
                embeddings=vectors,
                documents=[c.search_text for c in chunks],
                metadatas=[chunk_metadata(c, "synthetic", "v1", stamp) for c in chunks],
            )
        store.write_manifest(manifest or Manifest(embedder_identity(settings), "synthetic"))
        store.write_keywords()


def disk_mb(path: Path) -> float:
    output = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(output.split()[0]) / 1024


def rss_mb() -> float:
    """Resident memory of this process now (the embedder, the open index, the caches)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=None, help="default: every dev-set question")
    parser.add_argument("--keep", type=Path, help="build the collections here and reuse them next time")
    args = parser.parse_args()
    items = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    questions = list(dict.fromkeys(item["question"] for item in items))[: args.queries]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        settings = load_settings(vectorstore_dir=folder / "article")
        ingest(settings, progress=False)
        embeddings = make_embeddings(settings)
        rows = []
        store = index_backend(settings).open_for_query(embeddings, embedder_identity(settings))
        numbers = measure(Retriever(store, embeddings), questions)
        numbers["rss"] = rss_mb()
        rows.append(("article", store.count(), numbers, settings))
        store.close()
        for size in args.sizes:
            started = time.perf_counter()
            target = load_settings(vectorstore_dir=folder / f"synthetic-{size}")
            if LocalIndex(target).current_generation() is None:
                synthesize(settings, embeddings, size, target)
            build = time.perf_counter() - started
            store = index_backend(target).open_for_query(embeddings, embedder_identity(target))
            numbers = measure(Retriever(store, embeddings), questions)
            numbers["build_s"] = build
            numbers["rss"] = rss_mb()
            rows.append((f"synthetic {size}", store.count(), numbers, target))
            store.close()
        print(f"{len(questions)} distinct questions, each asked once, warm; times in ms")
        print(
            f"{'collection':18s} {'chunks':>7s} {'embed p50/p95':>15s} {'retrieve p50/p95':>17s}"
            f" {'ratio p50':>9s} {'overhead':>8s} {'no-cache p50':>12s} {'disk MB':>8s} {'RSS MB':>7s}"
        )
        for name, count, n, target in rows:
            print(
                f"{name:18s} {count:7d} {n['embed_p50']:7.1f}/{n['embed_p95']:<7.1f}"
                f" {n['retrieve_p50']:8.1f}/{n['retrieve_p95']:<8.1f}"
                f" {n['retrieve_p50'] / n['embed_p50']:9.2f} {n['retrieve_p50'] - n['embed_p50']:8.1f}"
                f" {n['cold_p50']:12.1f} {disk_mb(target.vectorstore_dir):8.1f} {n['rss']:7.0f}"
                + (f"  (built or opened in {n['build_s']:.0f} s)" if "build_s" in n else "")
            )


if __name__ == "__main__":
    main()
