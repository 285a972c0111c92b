"""Soak: a real server under concurrent streams that hang up, uploads and removals, for minutes.

What it does: copies (or builds) an index of the article, starts `qa serve` in a subprocess with
an admin token, then for `--minutes` runs `--streams` clients asking /api/ask/stream in a loop
(every third one hangs up after its first event, every fifth before the first byte) and one
client uploading and removing a small document. It prints the server's threads, open file
handles and RSS, and the p95 latency of the whole answers, measured over the first and the last
minute, so a leak (issue 13: ~5 threads and ~11 handles per upload/remove) shows as growth.

With `--cycles N` it runs N upload/ask/remove/ask cycles one after another instead, after
`--warm-up` cycles that let the caches fill, and prints threads, handles and RSS before and after
with their ratios (issue 13: flat within 10%).

What it does not do: judge the numbers (it prints them) or measure answer quality.

    python bench/soak.py --minutes 3 --streams 6
    python bench/soak.py --cycles 100
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "soak-admin-token"
QUESTIONS = ["COP15第一阶段会议通过了什么？", "绿色丝路使者计划是什么？", "中国在全球气候治理中做了什么？"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def resources(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "threads": int(fields["Threads"].strip()),
        "handles": len(os.listdir(f"/proc/{pid}/fd")),
        "rss_mb": int(fields["VmRSS"].split()[0]) // 1024,
    }


class Soak:
    def __init__(self, url: str, minutes: float) -> None:
        self.url = url
        self.until = time.monotonic() + minutes * 60
        self.latencies: list[tuple[float, float]] = []  # (finished at, seconds)
        self.statuses: dict[str, int] = {}
        self.lock = threading.Lock()

    def count(self, what: str) -> None:
        with self.lock:
            self.statuses[what] = self.statuses.get(what, 0) + 1

    def streamer(self, number: int) -> None:
        turn = 0
        while time.monotonic() < self.until:
            turn += 1
            question = {"question": QUESTIONS[(number + turn) % len(QUESTIONS)]}
            try:
                if turn % 5 == 0:
                    self.hang_up_early(question)
                    self.count("hung up before the first byte")
                    continue
                started = time.monotonic()
                with (
                    httpx.Client(timeout=120) as client,
                    client.stream("POST", f"{self.url}/api/ask/stream", json=question) as response,
                ):
                    lines = response.iter_lines()
                    if turn % 3 == 0:
                        next(lines, None)
                        self.count("hung up after the first event")
                        continue
                    for _ in lines:
                        pass
                self.count(f"stream {response.status_code}")
                if response.status_code == 200:
                    with self.lock:
                        self.latencies.append((time.monotonic(), time.monotonic() - started))
            except httpx.HTTPError as exc:
                self.count(type(exc).__name__)

    def hang_up_early(self, question: dict) -> None:
        body = json.dumps(question).encode()
        head = (
            "POST /api/ask/stream HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        host, port = self.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head + body)

    def librarian(self) -> None:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        cycle = 0
        while time.monotonic() < self.until:
            cycle += 1
            text = f"# 社区花园{cycle}\n\n社区花园今年有{cycle}个地块，由居民轮流照看。\n"
            try:
                added = httpx.post(
                    f"{self.url}/api/documents",
                    files=[("files", ("garden.md", text.encode()))],
                    headers=auth,
                    timeout=300,
                )
                self.count(f"upload {added.status_code}")
                removed = httpx.delete(f"{self.url}/api/documents/garden.md", headers=auth, timeout=300)
                self.count(f"remove {removed.status_code}")
            except httpx.HTTPError as exc:
                self.count(type(exc).__name__)

    def p95(self, since: float, until: float) -> float | None:
        window = [s for at, s in self.latencies if since <= at < until]
        if len(window) < 2:
            return None
        return statistics.quantiles(window, n=20)[-1]


SETTLE_S = 15  # in-flight work ends, idle worker threads stop (10 s), replaced generations close (3 s)


def cycle(url: str, number: int) -> None:
    """Upload a small document, ask about it, remove it, ask again: two index switches."""
    auth = {"Authorization": f"Bearer {ADMIN}"}
    text = f"# 社区花园{number}\n\n社区花园今年有{number}个地块，由居民轮流照看。\n"
    added = httpx.post(
        f"{url}/api/documents", files=[("files", ("garden.md", text.encode()))], headers=auth, timeout=300
    )
    added.raise_for_status()
    httpx.post(f"{url}/api/ask", json={"question": "社区花园有几个地块？"}, timeout=120).raise_for_status()
    httpx.delete(f"{url}/api/documents/garden.md", headers=auth, timeout=300).raise_for_status()
    httpx.post(f"{url}/api/ask", json={"question": QUESTIONS[number % 3]}, timeout=120).raise_for_status()


def cycles(url: str, pid: int, count: int, warm_up: int) -> dict:
    """Resources after `warm_up` cycles and after `count` more, each measured once settled."""
    for number in range(warm_up):
        cycle(url, number)
    time.sleep(SETTLE_S)
    httpx.get(f"{url}/api/health", timeout=30)
    start = resources(pid)
    began = time.monotonic()
    for number in range(warm_up, warm_up + count):
        cycle(url, number)
    took = time.monotonic() - began
    time.sleep(SETTLE_S)
    httpx.get(f"{url}/api/health", timeout=30)
    end = resources(pid)
    return {
        "cycles": count,
        "warm_up_cycles": warm_up,
        "seconds_a_cycle": round(took / count, 2),
        "start": start,
        "end": end,
        "ratios": {key: round(end[key] / start[key], 3) for key in start},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--streams", type=int, default=6, help="concurrent streaming clients")
    parser.add_argument("--cycles", type=int, default=0, help="run this many upload/remove cycles instead")
    parser.add_argument("--warm-up", type=int, default=10, help="cycles before the start figures (--cycles)")
    parser.add_argument("--index", type=Path, help="an index of the article to copy (else one is built)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qa-soak-"))
    index = work / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_VECTORSTORE_DIR=str(index), QA_ADMIN_TOKEN=ADMIN, QA_RATE_LIMIT_PER_MINUTE="0")
    if args.index:
        shutil.copytree(args.index, index)
    else:
        subprocess.run([sys.executable, "-m", "qa", "ingest"], env=env, check=True, cwd=ROOT)
    port = free_port()
    env["QA_PORT"] = str(port)
    server = subprocess.Popen([sys.executable, "-m", "qa", "serve"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(1)
        httpx.post(f"{url}/api/ask", json={"question": QUESTIONS[0]}, timeout=120)  # warm up
        if args.cycles:
            print(json.dumps(cycles(url, server.pid, args.cycles, args.warm_up), indent=2))
            return
        soak = Soak(url, args.minutes)
        start = resources(server.pid)
        began = time.monotonic()
        workers = [threading.Thread(target=soak.streamer, args=(n,)) for n in range(args.streams)]
        workers.append(threading.Thread(target=soak.librarian))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        time.sleep(SETTLE_S)
        httpx.get(f"{url}/api/health", timeout=30)
        end = resources(server.pid)
        finished = time.monotonic()
        window = min(60.0, (finished - began) / 3)
        health = httpx.get(f"{url}/api/health", timeout=30)
        report = {
            "minutes": args.minutes,
            "streams": args.streams,
            "start": {**start, "p95_s": soak.p95(began, began + window)},
            "end": {**end, "p95_s": soak.p95(finished - window - 5, finished)},
            "outcomes": dict(sorted(soak.statuses.items())),
            "health_after": health.status_code,
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
