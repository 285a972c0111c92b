"""Real servers on 127.0.0.1 for tests: start a command, wait until it answers, stop it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class InProcessServer:
    """An HTTP server in the test's own process on 127.0.0.1 (a free port unless one is given),
    served from a daemon thread for the length of a `with` block, then shut down and closed."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = self.server.server_address[1]

    def __enter__(self):  # noqa: ANN204 - the subclass itself
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(
    command: Sequence[str], health_url: str, timeout: float = 60, **popen
) -> Iterator[subprocess.Popen]:
    # Output goes to a file: an unread pipe fills up and blocks a chatty server mid-request.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
        yield from _serve_until_done(process, log, command, health_url, timeout)


def _serve_until_done(process, log, command, health_url, timeout) -> Iterator[subprocess.Popen]:
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RuntimeError(f"{command[0]} exited early:\n{output[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=1).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer at {health_url}")
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def chroma(data_dir: str) -> Iterator[int]:
    """A real `chroma run` server on a free port of 127.0.0.1, storing into data_dir; yields the port."""
    import shutil
    import sys
    from pathlib import Path

    port = free_port()
    executable = shutil.which("chroma", path=str(Path(sys.executable).parent))
    command = [executable, "run", "--path", data_dir, "--host", "127.0.0.1", "--port", str(port)]
    with running(command, f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=90):
        yield port
