"""A tiny OpenAI-compatible chat endpoint on 127.0.0.1 that replies with a fixed text and keeps
every request it got, so a test can see which prompts the product sent (no model needed)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from servers import InProcessServer


class ChatServer(InProcessServer):
    """`with ChatServer(reply) as server:` serves /v1/chat/completions (streamed or not) at server.url."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[dict] = []
        super().__init__(self._handler())
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                owner.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                if body.get("stream"):
                    self._stream(body.get("model", ""))
                else:
                    self._whole(body.get("model", ""))

            def _whole(self, model: str) -> None:
                message = {"role": "assistant", "content": owner.reply}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                self._send_json(
                    {"id": "c1", "object": "chat.completion", "model": model, "choices": [choice]}
                )

            def _stream(self, model: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for delta, finish in (({"role": "assistant", "content": owner.reply}, None), ({}, "stop")):
                    choice = {"index": 0, "delta": delta, "finish_reason": finish}
                    event = {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "model": model,
                        "choices": [choice],
                    }
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

            def _send_json(self, value: dict) -> None:
                data = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
