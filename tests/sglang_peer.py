"""A protocol peer for SGLang's HTTP server: real sockets on 127.0.0.1, SGLang's documented behaviour.

It stands in for SGLang itself, which needs a GPU. What it reproduces (shared
notes, "HTTP endpoints and readiness", and SGLang's OpenAI adapter):
- the port is closed while "weights load" (`open_after` seconds), then
- `/health` and `/health_generate` answer 503 until "warm-up" ends
  (`warmup_503s` answers), then 200;
- `/v1/models` answers 200 as soon as the port is open (not a readiness signal);
- with an API key, every route except `/health*` and `/metrics` needs
  `Authorization: Bearer KEY`, else 401;
- `/v1/chat/completions` in both shapes: one JSON object, or server-sent events
  `data: {chunk}` ... `data: [DONE]`, with `reasoning_content` deltas first, and
  with `stream_options.include_usage` a final chunk whose `choices` is empty and
  which carries `usage`. A prompt seen before reports its tokens as
  `usage.prompt_tokens_details.cached_tokens` (SGLang's --enable-cache-report).
The HTTP server itself is tests/standin_http.py's.
"""

from __future__ import annotations

import json
import threading
import time

from standin_http import QuietHandler, StandIn, free_port

__all__ = ["Peer", "free_port"]


class Peer:
    def __init__(self, port: int | None = None, *, open_after: float = 0.0, warmup_503s: int = 0,
                 api_key: str | None = None, model: str = "openai/gpt-oss-20b",
                 reasoning: str = "The user greets; answer briefly.", answer: str = "Hello there!",
                 token_delay: float = 0.0):
        self.port = port or free_port()
        self.open_after = open_after
        self.warmup_left = warmup_503s
        self.api_key = api_key
        self.model = model
        self.reasoning = reasoning
        self.answer = answer
        self.token_delay = token_delay
        self.seen_prompts: set[str] = set()
        self._lock = threading.Lock()
        self._server: StandIn | None = None
        self._opener: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[tuple[str, str, dict]]:
        """(method, path, headers) of each GET and (method, path, JSON body) of each POST, in order."""
        seen = self._server.requests if self._server else []
        return [(r.method, r.path, r.body if r.method == "POST" else dict(r.headers)) for r in seen]

    def __enter__(self) -> "Peer":
        self._opener = threading.Thread(target=self._open_later, daemon=True)
        self._opener.start()
        if self.open_after == 0:
            while self._server is None:
                time.sleep(0.005)
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        if self._opener:
            self._opener.join()
        if self._server:
            self._server.close()

    def _open_later(self) -> None:
        if self._stopped.wait(self.open_after):
            return
        peer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: dict | str) -> None:
                if isinstance(body, dict):
                    return self.send_json(status, body)
                return self.send_text(status, body, content_type="application/json")

            def _authorized(self) -> bool:
                if peer.api_key is None or self.path.startswith(("/health", "/metrics")):
                    return True
                return self.headers.get("Authorization") == f"Bearer {peer.api_key}"

            def do_GET(self):
                if not self._authorized():
                    return self._send(401, {"error": "Unauthorized"})
                if self.path in ("/health", "/health_generate"):
                    with peer._lock:
                        if peer.warmup_left > 0:
                            peer.warmup_left -= 1
                            return self._send(503, "")
                    return self._send(200, "")
                if self.path == "/v1/models":
                    return self._send(200, {"object": "list", "data": [
                        {"id": peer.model, "object": "model", "created": 0, "owned_by": "sglang", "root": peer.model}]})
                return self._send(404, {"detail": "Not Found"})

            def do_POST(self):
                body = self.read_json()
                if not self._authorized():
                    return self._send(401, {"error": "Unauthorized"})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"detail": "Not Found"})
                if body.get("model") != peer.model:
                    return self._send(400, {"object": "error", "message": f"model {body.get('model')!r} not served", "code": 400})
                prompt = json.dumps(body.get("messages"))
                prompt_tokens = max(1, len(prompt) // 4)
                with peer._lock:
                    cached = prompt_tokens - 1 if prompt in peer.seen_prompts else 0
                    peer.seen_prompts.add(prompt)
                words = peer.answer.split(" ")
                thoughts = peer.reasoning.split(" ")
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words) + len(thoughts),
                         "total_tokens": prompt_tokens + len(words) + len(thoughts),
                         "prompt_tokens_details": {"cached_tokens": cached}}
                if not body.get("stream"):
                    return self._send(200, {
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": peer.model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": peer.answer,
                                                             "reasoning_content": peer.reasoning, "tool_calls": None},
                                     "logprobs": None, "finish_reason": "stop", "matched_stop": 200002}],
                        "usage": usage})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def event(obj) -> None:
                    data = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                def chunk(delta, finish=None):
                    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": peer.model,
                            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

                event(chunk({"role": "assistant", "content": ""}))
                for i, t in enumerate(thoughts):
                    time.sleep(peer.token_delay)
                    event(chunk({"reasoning_content": t if i == 0 else " " + t}))
                for i, w in enumerate(words):
                    time.sleep(peer.token_delay)
                    event(chunk({"content": w if i == 0 else " " + w}))
                event(chunk({}, "stop"))
                if (body.get("stream_options") or {}).get("include_usage"):
                    event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                           "model": peer.model, "choices": [], "usage": usage})
                event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self._server = StandIn(Handler, port=self.port, record=True).start()
