"""One chat completion against SGLang's OpenAI-compatible API, end to end.

The model name comes from `/v1/models`, as a client would discover it. Timing
with `stream` is taken from the wire: time to the first chunk carrying content
(or reasoning), and to the end of the stream.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable


class QueryError(Exception):
    """The server did not answer as an OpenAI-compatible API should; the message says how."""


@dataclass
class Answer:
    model: str
    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    ttft: float | None = None       # seconds, streaming only
    total: float = 0.0              # seconds, request start to last byte
    raw: Any = field(default=None, repr=False)  # the response object, or the list of stream chunks


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _check(response, what: str) -> None:
    if response.status_code == 200:
        return
    body = response.text.strip().replace("\n", " ")[:300]
    # `query` reads the key only from the settings (it has no key option: a key never goes on a command line).
    hint = " (the server wants an API key: set SGLANG_API_KEY or SGLANG_API_KEY_FILE)" if response.status_code == 401 else ""
    raise QueryError(f"{what}: HTTP {response.status_code}{hint}: {body}")


def _json(response, what: str) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise QueryError(f"{what}: response is not JSON: {response.text[:200]!r}") from None


def first_model(models: Any) -> str:
    try:
        return models["data"][0]["id"]
    except (KeyError, IndexError, TypeError):
        raise QueryError(f"/v1/models: no model listed in {json.dumps(models)[:200]}") from None


def _usage_into(answer: Answer, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    answer.prompt_tokens = usage.get("prompt_tokens")
    answer.completion_tokens = usage.get("completion_tokens")
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict) and details.get("cached_tokens") is not None:
        answer.cached_tokens = details["cached_tokens"]


def parse_completion(body: Any, model: str) -> Answer:
    """A non-streamed /v1/chat/completions body -> Answer."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise QueryError(f"/v1/chat/completions: no choices[0].message in {json.dumps(body)[:200]}") from None
    answer = Answer(model=body.get("model") or model, content=message.get("content") or "",
                    reasoning=message.get("reasoning_content") or "", finish_reason=choice.get("finish_reason"),
                    raw=body)
    _usage_into(answer, body.get("usage"))
    return answer


def sse_events(lines) -> Any:
    """Server-sent events -> decoded JSON chunks, stopping at `data: [DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments, blank separators, event/id fields
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            yield json.loads(data)
        except (ValueError, RecursionError):
            raise QueryError(f"stream: chunk is not JSON: {data[:200]!r}") from None


def fold_chunks(chunks, model: str, started: float, clock: Callable[[], float]) -> Answer:
    """Accumulate streamed chunks into one Answer, noting when the first token arrived."""
    answer = Answer(model=model, raw=[])
    content, reasoning = [], []
    for chunk in chunks:
        answer.raw.append(chunk)
        if isinstance(chunk, dict) and "error" in chunk:
            raise QueryError(f"stream: server error: {json.dumps(chunk['error'])[:300]}")
        answer.model = chunk.get("model") or answer.model
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            piece, thought = delta.get("content"), delta.get("reasoning_content")
            if (piece or thought) and answer.ttft is None:
                answer.ttft = clock() - started
            if piece:
                content.append(piece)
            if thought:
                reasoning.append(thought)
            if choice.get("finish_reason"):
                answer.finish_reason = choice["finish_reason"]
        if chunk.get("usage"):
            _usage_into(answer, chunk["usage"])
    answer.content, answer.reasoning = "".join(content), "".join(reasoning)
    return answer


MAX_BODY = 16 << 20  # a chat answer is kilobytes; a peer that sends without end is cut off here
MAX_LINE = 1 << 20   # one server-sent event


def _body(response) -> bytes:
    """The whole body, up to MAX_BODY."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > MAX_BODY:
            raise QueryError(f"{response.request.url.path}: the answer exceeds {MAX_BODY >> 20} MiB; not an SGLang server?")
    return bytes(data)


def _lines(response):
    """The body's lines as they arrive, none longer than MAX_LINE."""
    pending = b""
    for chunk in response.iter_bytes():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
        if len(pending) > MAX_LINE:
            raise QueryError(f"stream: an event longer than {MAX_LINE >> 20} MiB; not an SGLang server?")
    if pending:
        yield pending.decode("utf-8", "replace")


class _Read:
    """A response whose body was read with a cap, for _check and _json."""

    def __init__(self, response, body: bytes) -> None:
        self.status_code = response.status_code
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)


def _get(client, method: str, url: str, **kw) -> "_Read":
    with client.stream(method, url, **kw) as response:
        return _Read(response, _body(response))


def chat(base_url: str, prompt: str, api_key: str | None = None, model: str | None = None,
         stream: bool = False, max_tokens: int | None = None, timeout: float = 300.0,
         temperature: float | None = None,
         clock: Callable[[], float] = time.perf_counter) -> Answer:
    """Send one chat completion; raises QueryError with a one-line reason on any failure."""
    import httpx2

    from ..util.deadline import DeadlineExceeded, wall_clock

    base = base_url.rstrip("/")
    headers = _headers(api_key)
    try:
        with wall_clock(timeout), httpx2.Client(timeout=httpx2.Timeout(timeout, connect=10.0)) as client:
            if model is None:
                listed = _get(client, "GET", base + "/v1/models", headers=headers)
                _check(listed, "/v1/models")
                model = first_model(_json(listed, "/v1/models"))
            payload: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
            if max_tokens is not None:
                payload["max_tokens"] = max_tokens
            if temperature is not None:
                payload["temperature"] = temperature
            started = clock()
            if not stream:
                response = _get(client, "POST", base + "/v1/chat/completions", headers=headers, json=payload)
                _check(response, "/v1/chat/completions")
                answer = parse_completion(_json(response, "/v1/chat/completions"), model)
                answer.total = clock() - started
                return answer
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
            with client.stream("POST", base + "/v1/chat/completions", headers=headers, json=payload) as response:
                if response.status_code != 200:
                    _check(_Read(response, _body(response)), "/v1/chat/completions")
                answer = fold_chunks(sse_events(_lines(response)), model, started, clock)
            answer.total = clock() - started
            return answer
    except httpx2.ConnectError as exc:
        raise QueryError(f"cannot connect to {base}: {exc} (is the server up? try `sglang-runtime wait`)") from None
    except (httpx2.TimeoutException, DeadlineExceeded):
        raise QueryError(f"{base}: no complete answer within {timeout:.0f} s") from None
    except httpx2.HTTPError as exc:
        raise QueryError(f"{base}: {type(exc).__name__}: {exc}") from None
