"""The OpenAI batch file format, pure: input lines -> requests, results -> output records.

Input (one JSON object a line), as OpenAI's Batch API and `vllm run-batch` read it:
    {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
Output (one a line, in the order requests finish), as OpenAI and vLLM
(vllm/entrypoints/openai/run_batch.py, BatchRequestOutput) write it:
    {"id": "batch_req_...", "custom_id": "...",
     "response": {"status_code": 200, "request_id": "...", "body": {...}} | null,
     "error": null | {"code": "...", "message": "..."}}
OpenAI's rule for the two: an HTTP answer is a `response` (whatever its status, an error
status carries the server's error body) and `error` is for failures with no usable HTTP
answer (the connection, a timeout, an answer that is not JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
MAX_LINE = 16 << 20  # one input line (a request body); a longer one is a mistake, not a prompt
SHOWN_BAD = 20       # bad lines listed before "... and N more"
# The runner's defaults (batch.py), here so that `--help` reads them without loading the runner.
DEFAULT_CONCURRENCY = 32   # when the server does not say how many requests it runs at once
MAX_DEFAULT = 128          # a server that admits thousands (SGLang on a big GPU) gains nothing from more client threads


@dataclass(frozen=True)
class Request:
    line: int
    custom_id: str
    url: str
    body: dict


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


def parse_line(text: str, line: int) -> Request | BadLine | None:
    """One input line -> a Request, a BadLine saying what is wrong, or None for a blank line."""
    if not text.strip():
        return None
    if len(text) > MAX_LINE:
        return BadLine(line, f"longer than {MAX_LINE >> 20} MiB")
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return BadLine(line, f"not JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return BadLine(line, f"a JSON {type(obj).__name__}, expected an object")
    missing = [k for k in ("custom_id", "method", "url", "body") if k not in obj]
    if missing:
        return BadLine(line, f"missing {', '.join(missing)}")
    custom_id, method, url, body = obj["custom_id"], obj["method"], obj["url"], obj["body"]
    if not isinstance(custom_id, str) or not custom_id:
        return BadLine(line, f"custom_id {_short(custom_id)}: expected a non-empty string")
    if method != "POST":
        return BadLine(line, f"method {_short(method)}: expected \"POST\"")
    if url not in ENDPOINTS:
        return BadLine(line, f"url {_short(url)}: expected one of {', '.join(ENDPOINTS)}")
    if not isinstance(body, dict):
        return BadLine(line, f"body: expected a JSON object, got {type(body).__name__}")
    if body.get("stream"):
        return BadLine(line, "body.stream is true: a batch takes whole answers, not streams")
    return Request(line, custom_id, url, body)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 60 else text[:60] + "..."


def read_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a binary stream; undecodable bytes stay visible as U+FFFD."""
    for number, raw in enumerate(stream, 1):
        yield number, raw.decode("utf-8", "replace")


class Checker:
    """Validates lines as they stream: each request once, duplicates of a custom_id refused.
    Holds only the custom_ids (a batch of a million requests: tens of MB), never the requests."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.bad: list[BadLine] = []
        self.bad_count = 0
        self.requests = 0

    def check(self, number: int, text: str) -> Request | None:
        parsed = parse_line(text, number)
        if isinstance(parsed, Request):
            first = self.seen.setdefault(parsed.custom_id, number)
            if first != number:
                parsed = BadLine(number, f"custom_id {_short(parsed.custom_id)} repeats line {first}")
        if isinstance(parsed, BadLine):
            self.bad_count += 1
            if len(self.bad) < SHOWN_BAD:
                self.bad.append(parsed)
            return None
        if parsed is not None:
            self.requests += 1
        return parsed

    def report(self, name: str) -> list[str]:
        lines = [f"{name}:{b.line}: {b.reason}" for b in self.bad]
        if self.bad_count > len(self.bad):
            lines.append(f"... and {self.bad_count - len(self.bad)} more bad lines")
        return lines


def new_id(prefix: str = "batch_req_") -> str:
    import uuid  # 10+ ms to import: not on every CLI start

    return prefix + uuid.uuid4().hex


def answered(custom_id: str, status: int, body: Any, request_id: str | None) -> dict:
    """The record for an HTTP answer (any status); `body` is the parsed JSON the server sent."""
    return {"id": new_id(), "custom_id": custom_id,
            "response": {"status_code": status, "request_id": request_id or new_id("req_"), "body": body},
            "error": None}


def failed(custom_id: str, code: str, message: str, status: int | None = None) -> dict:
    """The record for a request with no usable answer; `status` when an answer came but was unusable."""
    response = {"status_code": status, "request_id": new_id("req_"), "body": None} if status is not None else None
    return {"id": new_id(), "custom_id": custom_id, "response": response,
            "error": {"code": code, "message": message}}


def outcome(record: dict) -> str:
    """How a record is counted in the summary: the HTTP status, or the error code."""
    if record.get("error"):
        return str(record["error"].get("code"))
    return str(record["response"]["status_code"])


def usage(record: dict) -> tuple[int, int, int]:
    """(prompt, completion, cached) tokens an answer reports; zeros where it reports none."""
    body = (record.get("response") or {}).get("body")
    use = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(use, dict):
        return 0, 0, 0
    details = use.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return tuple(v if isinstance(v, int) and not isinstance(v, bool) else 0
                 for v in (use.get("prompt_tokens"), use.get("completion_tokens"), cached))


RETRIED_ON_RESUME = frozenset({"connection_error", "timeout", "408", "429", "500", "502", "503", "504"})


def output_record(text: str, name: str, number: int) -> dict:
    """One line of an output file being resumed; ValueError naming the line if it is not a record."""
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        raise ValueError(f"{name}:{number} is not a batch output record")
    return record


def worth_retrying(record: dict) -> bool:
    """A result that only says the server could not answer then (connection, timeout, 429, 5xx)."""
    try:
        return outcome(record) in RETRIED_ON_RESUME
    except (AttributeError, KeyError, TypeError):
        return False


def listed_model(listed: Any) -> str | None:
    """The first model a /v1/models answer lists, or None for any other shape."""
    try:
        return listed["data"][0]["id"]
    except (KeyError, IndexError, TypeError):
        return None
