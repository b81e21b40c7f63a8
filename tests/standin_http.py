"""The one stand-in HTTP server of the tests: real sockets on 127.0.0.1, answers a test scripts.

It stands in only for what cannot run here: the Hugging Face Hub (test_hubcheck.StandInHub), the
Kubernetes API server (k8s_support.FakeKubeAPI), and an SGLang server on a GPU (sglang_peer.Peer,
k8s_support.StandInServer). The other side of every such test is real: our CLI as a subprocess,
huggingface_hub, the real sglang-router. `Hostile` is a raw-socket peer for byte-level misbehaviour
(trickled headers, endless bodies) that no HTTP server library would produce.

    class Handler(QuietHandler):
        def do_GET(self):
            self.send_json(200, {"ok": True})

    with StandIn(Handler, record=True) as server:
        ... server.url ... server.requests  # [Recorded(method, path, headers, body)]
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping


def free_port() -> int:
    """A loopback port that was free a moment ago (for servers that bind it later, or not ours)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Recorded:
    """One request as a StandIn with record=True saw it: `headers` as received (names case-insensitive),
    `body` set once the handler reads it as JSON."""
    method: str
    path: str
    headers: Message
    body: Any = None


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler with no access log and one-line answers. Its protocol stays BaseHTTPRequestHandler's
    (HTTP/1.0, one request per connection) unless a subclass sets protocol_version = "HTTP/1.1"."""

    _record: Recorded | None = None

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def parse_request(self) -> bool:
        ok = super().parse_request()
        standin = getattr(self.server, "standin", None)
        if ok and standin is not None and standin.record and hasattr(self, "do_" + self.command):
            self._record = Recorded(self.command, self.path, self.headers)
            with standin.lock:
                standin.requests.append(self._record)
        return ok

    def read_json(self) -> Any:
        """The request body by Content-Length as JSON ({} when empty)."""
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self._record is not None:
            self._record.body = body
        return body

    def send_body(self, status: int, data: bytes, content_type: str | None = None,
                  headers: Mapping[str, str] | None = None) -> None:
        """Status, Content-Type (when given), Content-Length, then `headers` in their order, then the body."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(body).encode(), "application/json", headers)

    def send_text(self, status: int, text: str, headers: Mapping[str, str] | None = None,
                  content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_body(status, text.encode(), content_type, headers)


class StandIn:
    """A ThreadingHTTPServer on `host` (loopback), port 0 (the kernel picks) or the one given, answering with
    `handler`, whose instances reach this object as self.server.standin. Bound at construction; serves
    from start() or `with`; the end of `with` shuts it down and closes the socket."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, host: str = "127.0.0.1", port: int = 0,
                 record: bool = False) -> None:
        self.record = record
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.server.standin = self
        self.host = host
        self.port: int = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "StandIn":
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class Hostile:
    """A raw-socket peer: accepts connections, reads the request, and answers each by `behaviour(conn, stop)`."""

    def __init__(self, behaviour: Callable[[socket.socket, threading.Event], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.behaviour = behaviour
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn) -> None:
        try:
            conn.recv(65536)
            self.behaviour(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()

    def __enter__(self) -> "Hostile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
