"""A stand-in OpenAI-compatible server for batch tests: real sockets on 127.0.0.1, scripted failures.

It stands in for SGLang where a test needs a server that fails on purpose (503s,
429 with Retry-After, dropped connections, dying half-way, huge or non-JSON
answers), which a real server does not do on demand. Answers follow SGLang's
OpenAI adapter: `/v1/chat/completions` -> `{"id", "object": "chat.completion",
"choices": [{"message": {"role", "content"}}], "usage": {...}}`; `/server_info`
carries `max_running_requests` as SGLang's does.

`script` maps a prompt to the actions of its successive attempts (then "ok"):
"503", "429:SECONDS" (Retry-After), "drop" (close mid-answer), "html" (a 200
that is not JSON), "huge" (an endless 200 body), "500", "trickle" (a status line a byte at a time).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BatchPeer:
    def __init__(self, *, script: dict[str, list[str]] | None = None, delay: float = 0.0,
                 max_running: int | None = None, die_after: int | None = None, model: str = "stand-in/model"):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.delay, self.max_running, self.die_after, self.model = delay, max_running, die_after, model
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.answered: list[str] = []           # prompts answered 200, in order
        self.attempts: dict[str, list[float]] = {}  # prompt -> arrival times
        self.dead = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "BatchPeer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def kill(self) -> None:
        """The server goes away: the port closes and connections drop."""
        if not self.dead.is_set():
            self.dead.set()
            threading.Thread(target=self._shutdown, daemon=True).start()
            time.sleep(0.05)
            self.server.socket.close()

    def _shutdown(self) -> None:
        self.server.shutdown()

    def _handler(self):
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json", headers=()) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": peer.model, "object": "model"}]}).encode())
                elif self.path in ("/server_info", "/get_server_info") and peer.max_running:
                    self._send(200, json.dumps({"max_running_requests": peer.max_running, "dp_size": 1}).encode())
                else:
                    self._send(404, b'{"detail":"Not Found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                prompt = _prompt(body)
                with peer.lock:
                    if peer.dead.is_set():
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    peer.in_flight += 1
                    peer.max_in_flight = max(peer.max_in_flight, peer.in_flight)
                    peer.attempts.setdefault(prompt, []).append(time.monotonic())
                    actions = peer.script.get(prompt) or []
                    action = actions.pop(0) if actions else "ok"
                try:
                    if peer.delay:
                        time.sleep(peer.delay)
                    self._act(action, body, prompt)
                finally:
                    with peer.lock:
                        peer.in_flight -= 1

            def _act(self, action: str, body: dict, prompt: str) -> None:
                if action == "503":
                    self._send(503, b'{"object":"error","message":"overloaded","code":503}')
                elif action == "500":
                    self._send(500, b"<html>Internal Server Error</html>", "text/html")
                elif action.startswith("429"):
                    self._send(429, b'{"error":{"message":"slow down"}}', headers=[("Retry-After", action.split(":")[1])])
                elif action == "drop":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"id": "cut')
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif action == "trickle":
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:
                        pass
                    self.close_connection = True
                elif action == "html":
                    self._send(200, b"<html>\x1b]0;owned\x07\x1b[2J not json</html>", "text/html")
                elif action == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()  # no length: the body runs until the connection closes
                    chunk = b"x" * (1 << 20)
                    try:
                        for _ in range(64):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    self.close_connection = True
                else:
                    with peer.lock:
                        if peer.die_after is not None and len(peer.answered) >= peer.die_after:
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            peer.kill()
                            return
                        peer.answered.append(prompt)
                    self._send(200, json.dumps(_completion(body, prompt, peer.model)).encode())

        return Handler


def _prompt(body: dict) -> str:
    if "messages" in body:
        return body["messages"][-1]["content"]
    return body.get("prompt") or json.dumps(body.get("input"))


def _completion(body: dict, prompt: str, model: str) -> dict:
    return {"id": f"chatcmpl-{abs(hash(prompt)) % 10**8}", "object": "chat.completion", "created": 0,
            "model": body.get("model", model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo: {prompt}"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 3, "total_tokens": len(prompt.split()) + 3,
                      "prompt_tokens_details": {"cached_tokens": 1}}}


def batch_lines(n: int, prefix: str = "p") -> list[str]:
    return [json.dumps({"custom_id": f"{prefix}-{i}", "method": "POST", "url": "/v1/chat/completions",
                        "body": {"messages": [{"role": "user", "content": f"{prefix} {i}"}], "max_tokens": 5}})
            for i in range(n)]
