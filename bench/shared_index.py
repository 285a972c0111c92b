"""Several app hosts on one `chroma run` server: retrieve latency, a fresh host's keyword-index
build, and how long a change on one host takes to reach another.

Run: .venv/bin/python bench/shared_index.py [--chunks 100000] [--queries N] [--refresh 2]

Host A writes a synthetic collection into the server; host B starts with an empty
QA_VECTORSTORE_DIR, as another machine would. The synthetic chunks recombine the article's
real sentences and get vectors mixed from its real chunk vectors, written directly to Chroma
(embedding 100,000 texts with the bundled model takes hours on two cores); everything after
that (B's index build, retrieval, A's ingest of a new document) is the product's real path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.retrieval import QUESTIONS, measure, synthesize
from qa.config import load_settings
from qa.index.embeddings import make_embeddings
from qa.ingest.sync import ingest, remove_documents
from qa.query.pipeline import Pipeline
from qa.query.retrieval import Retriever

NEW_DOCUMENT = (
    "# 蓝鲸观测站\n\n蓝鲸观测站位于翡翠湾，二〇二一年共记录到蓝鲸四十七头，是该海域有记录以来最多的一年。\n"
)
NEW_QUESTION = "翡翠湾的蓝鲸观测站二〇二一年记录到多少头蓝鲸？"


def start_chroma(data: Path, port: int) -> subprocess.Popen:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    command = [chroma, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("chroma run did not start")


def propagation(b: Pipeline, present: bool, started: float, limit: float = 900) -> tuple[float, float]:
    """Seconds from `started` until B's answers (retrieval) and B's keyword index show the new
    document (or no longer do). Retrieval can see an added chunk earlier, through the vectors."""
    answers = keywords = None
    while time.perf_counter() - started < limit:
        if answers is None:
            found = any(r.chunk.doc_id == "whales.md" for r in b.retrieve(NEW_QUESTION).results)
            answers = time.perf_counter() - started if found == present else None
        else:
            b.store.keywords  # noqa: B018 - a reader's call, which is what lets the host check the version
        if keywords is None:
            found = any(chunk_id.startswith("whales.md:") for chunk_id in b.store.keywords.chunk_ids)
            keywords = time.perf_counter() - started if found == present else None
        if answers is not None and keywords is not None:
            return answers, keywords
        time.sleep(0.05)
    raise SystemExit(f"the change did not reach host B within {limit} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=None, help="default: every dev-set question")
    parser.add_argument("--refresh", type=float, default=2.0, help="QA_INDEX_REFRESH_SECONDS of host B")
    parser.add_argument("--port", type=int, default=18_431)
    args = parser.parse_args()
    items = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    questions = list(dict.fromkeys(item["question"] for item in items))[: args.queries]
    print("load average at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        server = start_chroma(folder / "chroma", args.port)
        try:
            local = load_settings(vectorstore_dir=folder / "article")
            ingest(local, progress=False)
            shared = {"chroma_host": "127.0.0.1", "chroma_port": args.port}
            a = load_settings(vectorstore_dir=folder / "host-a", **shared)
            b = load_settings(vectorstore_dir=folder / "host-b", index_refresh_seconds=args.refresh, **shared)
            embeddings = make_embeddings(local)
            started = time.perf_counter()
            synthesize(local, embeddings, args.chunks, a)
            written = time.perf_counter() - started
            print(f"host A wrote {args.chunks} synthetic chunks and its keyword index in {written:.0f} s")

            started = time.perf_counter()
            host_b = Pipeline(b)
            keywords = host_b.store.keywords
            fresh = time.perf_counter() - started
            print(
                f"host B (empty folder) built its keyword index of {len(keywords.chunk_ids)} chunks", end=""
            )
            print(f" from the server in {fresh:.1f} s")
            started = time.perf_counter()
            assert len(Pipeline(b).store.keywords.chunk_ids) == len(keywords.chunk_ids)
            print(f"host B restarted: loaded its cached index in {time.perf_counter() - started:.1f} s")

            numbers = measure(Retriever(host_b.store, host_b.embeddings), questions)
            print(
                f"host B retrieve p50/p95 {numbers['retrieve_p50']:.1f}/{numbers['retrieve_p95']:.1f} ms, "
                f"bare query embedding {numbers['embed_p50']:.1f}/{numbers['embed_p95']:.1f} ms: ratio "
                f"{numbers['retrieve_p50'] / numbers['embed_p50']:.2f} (p50), "
                f"{numbers['retrieve_p95'] / numbers['embed_p95']:.2f} (p95); {len(questions)} questions"
            )

            document = folder / "docs" / "whales.md"
            document.parent.mkdir()
            document.write_text(NEW_DOCUMENT, encoding="utf-8")
            started = time.perf_counter()
            ingest(a, [document], progress=False)
            committed = time.perf_counter()
            seen, indexed = propagation(host_b, True, committed)
            print(
                f"A ingested a document in {committed - started:.1f} s (embedding, keyword rebuild, commit); "
                f"after the commit B retrieved it in {seen:.1f} s and held it in its keyword index in "
                f"{indexed:.1f} s (refresh every {args.refresh} s)"
            )
            started = time.perf_counter()
            remove_documents(a, ["whales.md"])
            committed = time.perf_counter()
            gone, dropped = propagation(host_b, False, committed)
            print(
                f"A removed it in {committed - started:.1f} s; after the commit B stopped returning it in ",
                end="",
            )
            print(f"{gone:.1f} s and dropped it from its keyword index in {dropped:.1f} s")
        finally:
            server.terminate()
            server.wait()
    print("load average at the end: {:.2f} {:.2f} {:.2f} (1, 5, 15 minutes)".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
