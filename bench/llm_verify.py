"""What the answer check does to a strong model's answers: true sentences kept, wrong ones removed.

Run: .venv/bin/python bench/llm_verify.py [--split all|tune|heldout] [--models replay-true replay-wrong]
     [--data tests/fixtures/llm_replay.jsonl] [--index DIR] [--json OUT]

The product runs as a black box: the article is ingested with `qa ingest` into a temporary index,
`qa serve` is started with `QA_LLM_BASE_URL` pointed at the replay server (tests/replay_llm.py,
an OpenAI-compatible server replaying written answers), and every question of the replay set is
sent to `POST /api/ask`. The replay set labels each sentence true or wrong (with its kind of
error), so the answer shown can be scored sentence by sentence. A sentence counts as written when
it is in the model's raw answer (`llm_raw_answer`), as kept when it is in the answer shown and
the answer did not fall back to the extractive one; a kept sentence's citation is right when
every `[n]` behind it opens a chunk holding its quote.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import httpx

from qa.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))

from tests.replay_llm import DATA, Sentence, load, sentences_for, squash  # noqa: E402
from tests.servers import free_port, running  # noqa: E402

_MARKS = re.compile(r"\s*\[\d{1,3}(?:\s*[:：][^\]]*)?\]")
_MARK_N = re.compile(r"\[(\d{1,3})")
_TRAILING = re.compile(r"[。！？.!?”’」』\"']+$")


def ingest(index: Path, env: dict) -> None:
    subprocess.run(
        [sys.executable, "-m", "qa", "ingest", "--json"],
        env={**env, "QA_VECTORSTORE_DIR": str(index)},
        check=True,
        capture_output=True,
        cwd=PROJECT_ROOT,
    )


def ask_all(records: list[dict], model: str, replay_url: str, index: Path, env: dict) -> list[dict]:
    port = free_port()
    qa_env = {**env, "QA_VECTORSTORE_DIR": str(index), "QA_LLM_BASE_URL": replay_url, "QA_LLM_MODEL": model}
    qa_env["QA_RATE_LIMIT_PER_MINUTE"] = "0"  # a benchmark is one client asking fast
    command = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
    answers = []
    health = f"http://127.0.0.1:{port}/api/health"
    with (
        running(command, health, timeout=180, env=qa_env, cwd=PROJECT_ROOT),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client,
    ):
        for record in records:
            body = {"question": record["question"], "history": record.get("history", [])}
            response = client.post("/api/ask", json=body)
            response.raise_for_status()
            answers.append(response.json())
    return answers


def body(text: str) -> str:
    return squash(_TRAILING.sub("", text.strip()))


def score_sentence(sentence: Sentence, answer: dict) -> dict | None:
    """None when the model did not write it (its source was not retrieved); else kept and cited."""
    raw = squash(_MARKS.sub("", answer.get("llm_raw_answer") or ""))
    if body(sentence.text) not in raw:
        return None
    fallback = bool(answer.get("fallback"))
    shown = answer["answer"]
    flat = squash(_MARKS.sub("", shown))
    kept = not fallback and body(sentence.text) in flat
    cited_right = None
    if kept:
        chunks = {c["n"]: squash(c["text"]) for c in answer["citations"]}
        ns = _markers_after(sentence.text, shown)
        sources = [squash(q or s) for q, s in zip(sentence.quotes, sentence.sources, strict=True)]
        cited_right = bool(ns) and all(any(s in chunks.get(n, "") for s in sources) for n in ns)
    return {"kept": kept, "fallback": fallback, "cited_right": cited_right}


def _markers_after(text: str, shown: str) -> list[int]:
    """The [n] markers right behind the sentence in the shown answer (before or after its stop)."""
    stem = _TRAILING.sub("", text.strip())
    at = shown.find(stem)
    if at < 0:
        return []
    tail = shown[at + len(stem) :]
    match = re.match(r"((?:\s*\[\d{1,3}[^\]]*\])*)\s*[。！？.!?”’」』\"']*((?:\s*\[\d{1,3}[^\]]*\])*)", tail)
    return [int(n) for n in _MARK_N.findall(match.group(0))] if match else []


def score(records: list[dict], answers: list[dict], mode: str) -> dict:
    """Counts per group (all, zh, en, each error kind) of written, kept, fallback and cited sentences."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    examples: list[dict] = []
    for record, answer in zip(records, answers, strict=True):
        language = "en" if record["language"] == "en" else "zh"
        fell_back = bool(answer.get("fallback"))
        for group in ("all", language):
            counts[f"answers:{group}"]["n"] += 1
            counts[f"answers:{group}"]["fallback"] += fell_back
            counts[f"answers:{group}"]["refused"] += answer["refused"]
        for sentence in sentences_for(record, mode):
            result = score_sentence(sentence, answer)
            if result is None:
                counts["not_written"]["n"] += 1
                continue
            label = "true" if sentence.truth else "wrong"
            groups = [f"{label}:all", f"{label}:{language}"]
            if not sentence.truth:
                groups.append(f"wrong:{sentence.error_kind}")
            for group in groups:
                counts[group]["n"] += 1
                counts[group]["kept"] += result["kept"]
                counts[group]["cited_right"] += bool(result["cited_right"])
            if not sentence.truth and result["kept"]:
                examples.append({"id": record["id"], "kind": sentence.error_kind, "sentence": sentence.text})
    return {"counts": {k: dict(v) for k, v in counts.items()}, "wrong_kept": examples}


def table(report: dict) -> str:
    lines = []
    for model, result in report.items():
        counts = result["counts"]
        lines.append(f"## {model}")
        for key in sorted(counts):
            c = counts[key]
            n = c.get("n", 0)
            if key.startswith("answers:"):
                lines.append(
                    f"{key:28} n={n:3}  fallback {c['fallback'] / n:.2f}  refused {c['refused'] / n:.2f}"
                )
            elif key == "not_written":
                lines.append(f"{key:28} n={n:3}  (source not retrieved)")
            elif key.startswith("true:"):
                cited = c["cited_right"] / c["kept"] if c["kept"] else float("nan")
                lines.append(f"{key:28} n={n:3}  kept {c['kept'] / n:.2f}  [n] holds quote {cited:.2f}")
            else:
                lines.append(f"{key:28} n={n:3}  removed {1 - c['kept'] / n:.2f}")
        for example in result["wrong_kept"]:
            lines.append(f"  kept wrong ({example['kind']}, {example['id']}): {example['sentence']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", choices=("all", "tune", "heldout"), default="all")
    parser.add_argument("--models", nargs="+", default=["replay-true", "replay-wrong"])
    parser.add_argument("--index", type=Path, help="an ingested index of the article (default: a fresh one)")
    parser.add_argument("--json", type=Path, help="write the counts here too")
    args = parser.parse_args()
    records = [r for r in load(args.data) if args.split in ("all", r["split"])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        if args.index is None:
            ingest(index, env)
        replay_port = free_port()
        command = [sys.executable, str(PROJECT_ROOT / "tests" / "replay_llm.py"), "--port", str(replay_port)]
        command += ["--data", str(args.data)]
        replay_url = f"http://127.0.0.1:{replay_port}/v1"
        report = {}
        with running(command, f"{replay_url}/models"):
            for model in args.models:
                mode = model.removeprefix("replay-").removesuffix("-plain")
                answers = ask_all(records, model, replay_url, index, env)
                report[model] = score(records, answers, mode)
    print(f"split: {args.split}, {len(records)} questions")
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
