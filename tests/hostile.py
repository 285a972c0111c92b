"""What the hostile-input tests share (issue 13): `qa` run in a bounded subprocess, and the check
that a failure is one sentence on stderr with exit 1, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from qa.config import load_settings
from qa.index.backend import index_backend
from qa.index.embeddings import embedder_identity, make_embeddings

BOUND_S = 120  # no case may take longer than this (a loaded 2-core machine: each CLI run is ~10 s)


def run_qa(*args: str, index: Path, memory_mb: int = 0, **settings: str) -> subprocess.CompletedProcess:
    """`qa ARGS` in a subprocess with these settings; with `memory_mb`, its address space is capped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["QA_VECTORSTORE_DIR"] = str(index)
    env.update({f"QA_{name.upper()}": value for name, value in settings.items()})

    def cap_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))

    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=BOUND_S,
        preexec_fn=cap_memory if memory_mb else None,
    )


def assert_one_sentence(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and "Warning" not in line]
    assert lines[-1].startswith("error: ") and fragment in lines[-1], result.stderr


def chunk_count(index: Path) -> int:
    """The chunks `qa docs list` would count, read in this process (the `qa` runs are what is tested)."""
    settings = load_settings(vectorstore_dir=index)
    store = index_backend(settings).open_for_query(make_embeddings(settings), embedder_identity(settings))
    try:
        return sum(document.chunks for document in store.documents())
    finally:
        store.close()
