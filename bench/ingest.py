"""Ingest a synthetic folder of mixed formats; print time, throughput, memory, disk and the embed floor.

Run: .venv/bin/python bench/ingest.py [--docs 200] [--seed 0] [--keep DIR] [--json]

The folder holds N documents of recombined real paragraphs (the article's, People's Daily
news, the Python reference: see corpus.py), alternately Chinese and English, written in turn
as .md, .txt, .html, .docx and .pdf, in sub-folders of 50. Four runs, each a fresh process:
1. a first ingest into an empty index (its peak memory is that process's own);
2. the same again, nothing changed: it should only read the files and compare hashes;
3. after changing one paragraph in 5 documents (one of each format): only those are re-embedded;
4. `qa ingest` of the first sub-folder (50 documents) into a second empty index, SIGKILLed
   once its progress bar is half way, then run again: the rerun takes what the killed run
   embedded from the embedding cache. (One sub-folder, not all: it costs a quarter of a full
   embedding, and the resume works the same at any size.)
The embedder is the floor: `embed` is the time spent inside it, and total/embed is what
reading, chunking, Chroma, BM25 and the crash-safe generation swap add on top.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from corpus import FORMATS, changed, file_name, synthetic_documents, write_document, write_folder

from qa.config import load_settings
from qa.ingest.chunking import chunk_document
from qa.ingest.sync import load_documents

CHILD = """
import json, resource, sys, time
from pathlib import Path
from qa.config import load_settings
from qa.ingest.sync import ingest
started = time.perf_counter()
report = ingest(load_settings(vectorstore_dir=Path(sys.argv[1])), [Path(sys.argv[2])], progress=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({**report.__dict__, "peak_rss_mb": peak, "process_seconds": time.perf_counter() - started}))
"""
PROGRESS = re.compile(r"Embedding chunks:[^\r\n]*?(\d+)/(\d+)")


def run_ingest(index: Path, folder: Path) -> dict:
    """One ingest in a fresh process; its report, its own peak RSS and the wall time with startup."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(index), str(folder)], stdout=subprocess.PIPE, text=True, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["wall_seconds"] = time.perf_counter() - started
    return report


def interrupt(index: Path, folder: Path, fraction: float) -> dict:
    """`qa ingest` killed with SIGKILL once its progress bar shows `fraction` of the chunks embedded."""
    env = {**os.environ, "QA_VECTORSTORE_DIR": str(index)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "ingest", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    seen, done, total, killed = "", 0, 0, False
    while True:
        data = os.read(process.stderr.fileno(), 4096)
        if not data:
            break
        sys.stderr.write(data.decode("utf-8", "replace"))
        seen = (seen + data.decode("utf-8", "replace"))[-2000:]
        found = PROGRESS.findall(seen)
        if found:
            done, total = map(int, found[-1])
            if total and done >= max(1, total * fraction):
                process.send_signal(signal.SIGKILL)
                killed = True
                break
    process.wait()
    process.stderr.close()
    sys.stderr.write("\n")
    return {"killed": killed, "done": done, "total": total, "seconds": time.perf_counter() - started}


def resume(index: Path, folder: Path) -> dict:
    """`qa ingest --json` again on the index the killed run left behind."""
    env = {**os.environ, "QA_VECTORSTORE_DIR": str(index)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ingest", "--json", str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        check=True,
    )
    report = json.loads(done.stdout)
    report["wall_seconds"] = time.perf_counter() - started
    return report


def disk_mb(path: Path) -> float:
    output = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(output.split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200, help="documents in the folder (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="which documents (default 0)")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it (default: a temp folder)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of chunks embedded before SIGKILL")
    parser.add_argument("--json", action="store_true", help="also print all figures as one JSON line")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as work:
            run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> None:
    folder, index, second_index = work / "documents", work / "index", work / "index-interrupted"
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    documents = synthetic_documents(args.docs, args.seed)
    paths = write_folder(documents, folder)
    written = time.perf_counter() - started
    formats = Counter(path.suffix for path in paths)
    chars = sum(document.chars for document in documents) / len(documents)
    paragraphs = sum(len(document.paragraphs) for document in documents) / len(documents)
    share = ", ".join(f"{formats[suffix]} {suffix}" for suffix in FORMATS)
    print(f"folder: {len(paths)} documents ({share}) in {folder}")
    print(f"        mean {chars:.0f} characters, {paragraphs:.1f} paragraphs a document")
    print(f"        written in {written:.1f} s")

    # Reading and chunking alone, in this process: what ingest spends before the embedder.
    settings = load_settings(vectorstore_dir=index)
    started = time.perf_counter()
    loaded, problems = load_documents(settings, [folder])
    parse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    planned = sum(
        len(chunk_document(document, settings.chunk_max_tokens, settings.chunk_overlap_sentences))
        for document in loaded
    )
    chunk_seconds = time.perf_counter() - started
    for problem in problems:
        print(f"skipped: {problem}")

    first = run_ingest(index, folder)
    index_mb, cache_mb = disk_mb(index), disk_mb(index / "embedding-cache.sqlite3")
    second = run_ingest(index, folder)
    for number in range(5):  # one document of each format
        write_document(
            changed(documents[number], args.seed, number),
            folder / file_name(number, documents[number], FORMATS),
        )
    third = run_ingest(index, folder)
    part = sorted(path for path in folder.iterdir() if path.is_dir())[0]
    killed = interrupt(second_index, part, args.kill_at)
    resumed = resume(second_index, part)

    seconds, embed = first["seconds"], first["embed_seconds"]
    figures = {
        "documents": first["documents"],
        "documents_written": len(paths),
        "chunks": first["total_chunks"],
        "chunks_planned": planned,
        "mean_chunk_chars": first["mean_chunk_chars"],
        "seconds": seconds,
        "process_seconds": first["wall_seconds"],
        "parse_seconds": parse_seconds,
        "chunk_seconds": chunk_seconds,
        "chunks_per_second": first["total_chunks"] / seconds,
        "embed_seconds": embed,
        "embed_chunks_per_second": first["chunks_added"] / embed if embed else None,
        "ratio_total_embed": seconds / embed if embed else None,
        "peak_rss_mb": first["peak_rss_mb"],
        "index_mb": index_mb,
        "cache_mb": cache_mb,
        "first_chunks_from_cache": first["chunks_from_cache"],
        "unchanged_seconds": second["seconds"],
        "unchanged_process_seconds": second["wall_seconds"],
        "unchanged_documents_changed": second["documents_changed"],
        "changed_seconds": third["seconds"],
        "changed_documents": third["documents_changed"],
        "changed_chunks_added": third["chunks_added"],
        "changed_chunks_removed": third["chunks_removed"],
        "changed_chunks_from_cache": third["chunks_from_cache"],
        "changed_embed_seconds": third["embed_seconds"],
        "changed_total_chunks": third["total_chunks"],
        "interrupted_folder": part.name,
        "interrupted_documents": resumed["documents"],
        "killed": killed["killed"],
        "killed_after_chunks": killed["done"],
        "killed_of_chunks": killed["total"],
        "killed_after_seconds": killed["seconds"],
        "resumed_seconds": resumed["seconds"],
        "resumed_process_seconds": resumed["wall_seconds"],
        "resumed_chunks_from_cache": resumed["chunks_from_cache"],
        "resumed_chunks_added": resumed["chunks_added"],
        "resumed_embed_seconds": resumed["embed_seconds"],
        "resumed_total_chunks": resumed["total_chunks"],
        "load_average": [load_before, os.getloadavg()[0]],
        "cpus": os.cpu_count(),
    }
    print_figures(figures)
    if args.json:
        print(json.dumps(figures))


def print_figures(f: dict) -> None:
    rows = [
        ("documents", f"{f['documents']} ingested of {f['documents_written']} written"),
        ("chunks", f"{f['chunks']} (mean {f['mean_chunk_chars']:.0f} characters)"),
        ("total time", f"{f['seconds']:.1f} s in ingest(), {f['process_seconds']:.1f} s with process start"),
        (
            "read/parse files",
            f"{f['parse_seconds']:.1f} s; chunking {f['chunk_seconds']:.1f} s (measured apart)",
        ),
        (
            "chunks per second",
            f"{f['chunks_per_second']:.2f} (the embedder alone: {f['embed_chunks_per_second']:.2f})",
        ),
        ("peak memory (RSS)", f"{f['peak_rss_mb']:.0f} MB"),
        ("index on disk", f"{f['index_mb']:.1f} MB, of which the embedding cache {f['cache_mb']:.1f} MB"),
        ("embed seconds", f"{f['embed_seconds']:.1f} s"),
        ("total / embed", f"{f['ratio_total_embed']:.2f}  (the embedder is the floor: 1.00)"),
        (
            "nothing changed",
            f"{f['unchanged_seconds']:.1f} s ({f['unchanged_process_seconds']:.1f} s with process start), "
            f"{f['unchanged_documents_changed']} documents re-ingested",
        ),
        (
            "5 documents changed",
            f"{f['changed_seconds']:.1f} s: {f['changed_documents']} documents, "
            f"+{f['changed_chunks_added']} / -{f['changed_chunks_removed']} chunks "
            f"({f['changed_chunks_added'] - f['changed_chunks_from_cache']} embedded, "
            f"{f['changed_embed_seconds']:.1f} s in the embedder)",
        ),
        (
            "interrupted",
            f"qa ingest {f['interrupted_folder']} ({f['interrupted_documents']} documents): "
            f"SIGKILL at {f['killed_after_chunks']}/{f['killed_of_chunks']} chunks after "
            f"{f['killed_after_seconds']:.1f} s" + ("" if f["killed"] else " (it finished first)"),
        ),
        (
            "resumed",
            f"{f['resumed_seconds']:.1f} s ({f['resumed_process_seconds']:.1f} s with process start): "
            f"{f['resumed_chunks_from_cache']} chunks from the cache, "
            f"{f['resumed_chunks_added'] - f['resumed_chunks_from_cache']} embedded "
            f"({f['resumed_embed_seconds']:.1f} s in the embedder)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    before, after = f["load_average"]
    print(f"load average {before:.1f} at the start, {after:.1f} at the end, on {f['cpus']} CPUs")


if __name__ == "__main__":
    main()
