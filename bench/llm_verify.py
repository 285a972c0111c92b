"""What the answer check does to a strong model's answers: `qa eval --llm` against the replay server.

Run: .venv/bin/python bench/llm_verify.py [--split tune|heldout] [--models replay-true replay-wrong]
     [--data tests/fixtures/llm_replay.jsonl] [--index DIR] [--out DIR]

One command for what docs/llm_verify.md reports: the documents the set is about are ingested with
`qa ingest` into a temporary index (or --index is used): the article for llm_replay.jsonl, the dev
corpus `eval/corpora/<name>/` for a set whose records say `"set": "<name>_dev"`
(llm_replay_handbook.jsonl and its siblings). tests/replay_llm.py (an OpenAI-compatible server replaying
written answers) is started, and `qa eval DATA --llm` runs once per replayed model with
`QA_LLM_BASE_URL` pointed at it. The counting is the eval runner's (qa/eval/verification.py):
`replay-true` gives the true sentences kept, `replay-wrong` the wrong ones removed, per split,
language and error kind.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from qa.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))

from tests.replay_llm import DATA, load  # noqa: E402
from tests.servers import free_port, running  # noqa: E402


def documents_of(data: Path) -> list[str]:
    """What `qa ingest` is given for the set: its dev corpus's folder, or nothing (the article)."""
    names = {record.get("set", "").removesuffix("_dev") for record in load(data)}
    folders = [PROJECT_ROOT / "eval" / "corpora" / name for name in sorted(names)]
    return [str(folder) for folder in folders if folder.is_dir()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", choices=("tune", "heldout"), help="one part only (default: both)")
    parser.add_argument("--models", nargs="+", default=["replay-true", "replay-wrong"])
    parser.add_argument("--index", type=Path, help="an index of the set's documents (default: ingest)")
    parser.add_argument("--out", type=Path, help="write each model's report to OUT/MODEL/")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    qa = [sys.executable, "-m", "qa"]
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        env["QA_VECTORSTORE_DIR"] = str(index)
        if args.index is None:
            ingest = [*qa, "ingest", *documents_of(args.data)]
            subprocess.run(ingest, env=env, check=True, capture_output=True, cwd=PROJECT_ROOT)
        port = free_port()
        replay = [sys.executable, str(PROJECT_ROOT / "tests" / "replay_llm.py"), "--port", str(port)]
        base_url = f"http://127.0.0.1:{port}/v1"
        with running([*replay, "--data", str(args.data)], f"{base_url}/models"):
            for model in args.models:
                command = [*qa, "eval", str(args.data), "--llm"]
                command += ["--split", args.split] if args.split else []
                command += ["--out", str(args.out / model)] if args.out else []
                print(f"## {model}: QA_LLM_MODEL={model} {' '.join(command[2:])}", flush=True)
                model_env = {**env, "QA_LLM_BASE_URL": base_url, "QA_LLM_MODEL": model}
                subprocess.run(command, env=model_env, check=True, cwd=PROJECT_ROOT)


if __name__ == "__main__":
    main()
