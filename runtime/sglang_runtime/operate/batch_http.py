"""One batch request over HTTP/1.1, with retries: the runner's edge to the network.

Standard library http.client, one kept-alive connection per worker thread: the
client side of a batch is a few hundred requests a second at most, and a thread per
slot in flight is the simplest way to bound them. Each answer is read up to
query.MAX_BODY (the cap `query` uses), and each request is bounded in wall-clock
time by a watchdog that shuts the socket down at its deadline (a server that
trickles one byte a second keeps every per-read timeout happy for ever).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from . import batch_format
from .query import MAX_BODY

RETRIED_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Policy:
    retries: int = 5            # attempts after the first
    backoff: float = 0.5        # seconds before the first retry; doubles each time
    max_wait: float = 30.0      # no single wait is longer (Retry-After included)
    timeout: float = 600.0      # seconds, wall clock, for one attempt


def backoff(attempt: int, policy: Policy, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter (half fixed, half random), so a crowd of retries spreads out."""
    step = min(policy.max_wait, policy.backoff * (2 ** attempt))
    return step / 2 + rand() * step / 2


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now) if when else None


class Watchdog:
    """Shuts down the socket of any attempt past its deadline; one thread for all workers."""

    def __init__(self) -> None:
        self._live: dict[int, tuple[float, http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self.expired: set[int] = set()
        threading.Thread(target=self._watch, daemon=True, name="batch-watchdog").start()

    def arm(self, key: int, seconds: float, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._live[key] = (time.monotonic() + seconds, conn)
            self.expired.discard(key)

    def disarm(self, key: int) -> bool:
        """Stop watching; True if the deadline had already passed."""
        with self._lock:
            self._live.pop(key, None)
            return key in self.expired

    def _watch(self) -> None:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            with self._lock:
                late = [(k, c) for k, (d, c) in self._live.items() if d <= now and k not in self.expired]
                self.expired.update(k for k, _ in late)
            for _, conn in late:
                sock = conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


class Client:
    """One worker's connection to the server; `send` returns an output record, never raises for the peer's sake."""

    def __init__(self, base_url: str, api_key: str | None, policy: Policy, watchdog: Watchdog,
                 stop: threading.Event) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.policy, self.watchdog, self.stop = policy, watchdog, stop
        self.conn: http.client.HTTPConnection | None = None
        self.retries = 0  # retries this client made, for the summary

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.conn = kind(self.host, self.port, timeout=self.policy.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def exchange(self, method: str, path: str, payload: bytes | None) -> tuple[int, Any, str | None, http.client.HTTPMessage]:
        """One attempt: (status, raw body bytes, request id, headers); raises OSError/HTTPException/TimeoutError."""
        conn = self._connection()
        key = id(self)
        self.watchdog.arm(key, self.policy.timeout, conn)
        try:
            conn.request(method, self.prefix + path, body=payload, headers=self.headers)
            response = conn.getresponse()
            body = response.read(MAX_BODY + 1)
            if response.length and len(body) <= MAX_BODY:
                # read(n) returns what came before the peer hung up; Content-Length says more was due.
                raise http.client.IncompleteRead(body, response.length)
        except (OSError, http.client.HTTPException):
            self.close()
            if self.watchdog.disarm(key):
                raise TimeoutError(f"no complete answer within {self.policy.timeout:.0f} s") from None
            raise
        if self.watchdog.disarm(key):
            self.close()
            raise TimeoutError(f"no complete answer within {self.policy.timeout:.0f} s")
        if len(body) > MAX_BODY:
            self.close()  # the rest of the body is still coming: the connection cannot be reused
            raise OverflowError(f"the answer exceeds {MAX_BODY >> 20} MiB")
        if response.will_close:
            self.close()
        return response.status, body, response.getheader("x-request-id"), response.headers

    def send(self, request: batch_format.Request) -> dict:
        payload = json.dumps(request.body).encode()
        attempt = 0
        while True:
            wait = None
            try:
                status, raw, request_id, headers = self.exchange("POST", request.url, payload)
            except TimeoutError as exc:
                return batch_format.failed(request.custom_id, "timeout", str(exc))
            except OverflowError as exc:
                return batch_format.failed(request.custom_id, "response_too_large", str(exc))
            except (OSError, http.client.HTTPException) as exc:
                last = batch_format.failed(request.custom_id, "connection_error", _describe(exc))
            else:
                last = _record(request.custom_id, status, raw, request_id)
                if status not in RETRIED_STATUS:
                    return last
                wait = retry_after(headers.get("Retry-After"), time.time()) if status in (429, 503) else None
            if attempt >= self.policy.retries:
                return last
            delay = backoff(attempt, self.policy) if wait is None else min(wait, self.policy.max_wait)
            attempt += 1
            self.retries += 1
            if self.stop.wait(delay):
                return last


def _record(custom_id: str, status: int, raw: bytes, request_id: str | None) -> dict:
    """An HTTP answer -> its output record; one that is not JSON is an `invalid_response` error."""
    try:
        body = json.loads(raw)
    except ValueError:
        return batch_format.failed(custom_id, "invalid_response", f"HTTP {status}, the answer is not JSON: {raw[:200]!r}",
                                   status)
    if request_id is None and isinstance(body, dict) and isinstance(body.get("id"), str):
        request_id = body["id"]
    return batch_format.answered(custom_id, status, body, request_id)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def get_json(base_url: str, api_key: str | None, path: str, timeout: float = 10.0) -> tuple[int, Any]:
    """A small GET (server info, model list): (status, the JSON body or None); OSError when nothing answers."""
    client = Client(base_url, api_key, Policy(retries=0, timeout=timeout), _watchdog(), threading.Event())
    try:
        status, raw, _, _ = client.exchange("GET", path, None)
    except http.client.HTTPException as exc:
        raise ConnectionError(_describe(exc)) from None
    except OverflowError:
        return 200, None
    finally:
        client.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


_shared: Watchdog | None = None
_shared_lock = threading.Lock()


def _watchdog() -> Watchdog:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Watchdog()
        return _shared
