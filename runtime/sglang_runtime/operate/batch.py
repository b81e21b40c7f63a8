"""Run a batch file against a server: bounded concurrency, each result appended as it finishes, resumable.

The shape of a run: the input streams through a queue no longer than the number of
worker threads, so memory holds at most `concurrency` requests whatever the file's
size; each worker keeps one connection and writes each finished record as one
`write` + `flush` under a lock, so the output is whole lines at every instant and a
crash, a Ctrl-C or a dead server costs only the requests in flight. Resuming reads
the custom_ids the output already holds and skips them; a last line cut short by a
crash is dropped (its request is sent again).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable

from . import batch_format, batch_http

DEFAULT_CONCURRENCY = batch_format.DEFAULT_CONCURRENCY
MAX_DEFAULT = batch_format.MAX_DEFAULT


@dataclass
class Summary:
    total: int | None = None           # requests to send this run (None: reading a stream)
    skipped: int = 0                   # already in the output (resume)
    outcomes: Counter = field(default_factory=Counter)  # HTTP status or error code -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    retries: int = 0
    wall_s: float = 0.0
    concurrency: int = 0
    interrupted: bool = False

    @property
    def done(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return sum(n for k, n in self.outcomes.items() if not (k.isdigit() and 200 <= int(k) < 300))

    def add(self, record: dict) -> None:
        self.outcomes[batch_format.outcome(record)] += 1
        prompt, completion, cached = batch_format.usage(record)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cached_tokens += cached

    def as_dict(self) -> dict:
        wall = max(self.wall_s, 1e-9)
        return {"requests": self.done, "total": self.total, "skipped_already_done": self.skipped,
                "by_status": dict(sorted(self.outcomes.items())), "failed": self.failed, "retries": self.retries,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens, "wall_s": round(self.wall_s, 3),
                "requests_per_s": round(self.done / wall, 3),
                "completion_tokens_per_s": round(self.completion_tokens / wall, 1),
                "concurrency": self.concurrency, "interrupted": self.interrupted}


def server_concurrency(info: object) -> int | None:
    """How many requests the server runs at once, from its /server_info answer, where it says."""
    if not isinstance(info, dict):
        return None
    value = info.get("max_running_requests")
    if not _count(value):
        states = info.get("internal_states")
        state = states[0] if isinstance(states, list) and states and isinstance(states[0], dict) else {}
        value = state.get("effective_max_running_requests_per_dp", state.get("max_running_requests"))
        if _count(value) and _count(info.get("dp_size")):
            value *= info["dp_size"]
    return value if _count(value) else None


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def default_concurrency(base_url: str, api_key: str | None) -> tuple[int, str]:
    """(concurrency, where it came from): the server's own limit (capped), else the constant."""
    for path in ("/server_info", "/get_server_info"):  # /server_info since 0.5.x; the older name on gateways
        try:
            told = server_concurrency(batch_http.get_json(base_url, api_key, path)[1])
        except OSError:
            told = None
        if told:
            return min(told, MAX_DEFAULT), f"the server's max_running_requests ({told}{', capped' if told > MAX_DEFAULT else ''})"
    return DEFAULT_CONCURRENCY, "the default (the server does not report max_running_requests)"


def first_model(base_url: str, api_key: str | None) -> str | None:
    try:
        listed = batch_http.get_json(base_url, api_key, "/v1/models")[1]
    except OSError:
        return None
    return batch_format.listed_model(listed)


class Runner:
    """Sends requests with `concurrency` in flight and appends each record to `out` as it finishes."""

    def __init__(self, base_url: str, api_key: str | None, concurrency: int, out: BinaryIO,
                 policy: batch_http.Policy = batch_http.Policy(), model: str | None = None,
                 on_record: Callable[[dict, Summary], None] | None = None, limit: int | None = None) -> None:
        self.base_url, self.api_key, self.concurrency = base_url, api_key, concurrency
        self.out, self.policy, self.on_record = out, policy, on_record
        self.limit = limit  # stop after this many records (tests: a crash after k results)
        self.stop = threading.Event()
        self.summary = Summary(concurrency=concurrency)
        self._write = threading.Lock()
        self._model, self._model_known = model, model is not None
        self._model_lock = threading.Lock()
        self.failure: BaseException | None = None  # what ended a worker (the output cannot be written, a bug)

    def _with_model(self, request: batch_format.Request) -> batch_format.Request:
        """A body without `model` gets the server's (the first /v1/models lists), as `query` does."""
        if "model" in request.body:
            return request
        with self._model_lock:
            if not self._model_known:
                self._model, self._model_known = first_model(self.base_url, self.api_key), True
        if self._model is None:
            return request
        return batch_format.Request(request.line, request.custom_id, request.url, {"model": self._model, **request.body})

    def _record(self, record: dict) -> None:
        line = (batch_format_json(record) + "\n").encode()
        with self._write:
            if self.stop.is_set():
                return  # past a stop, nothing more is written: what is there is whole
            self.out.write(line)
            self.out.flush()
            self.summary.add(record)
            if self.on_record:
                self.on_record(record, self.summary)
            if self.limit is not None and self.summary.done >= self.limit:
                self.stop.set()

    def _work(self, jobs: "queue.Queue[batch_format.Request | None]", watchdog: batch_http.Watchdog) -> None:
        client = batch_http.Client(self.base_url, self.api_key, self.policy, watchdog, self.stop)
        try:
            while (request := jobs.get()) is not None:
                if not self.stop.is_set():
                    self._record(client.send(self._with_model(request)))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which reports it
            with self._write:
                self.failure = self.failure or exc
            self.stop.set()
            while jobs.get() is not None:  # keep draining, so the feeder's end-of-input markers fit
                pass
        finally:
            client.close()
            with self._write:
                self.summary.retries += client.retries

    def run(self, requests: Iterable[batch_format.Request]) -> Summary:
        started = time.perf_counter()
        jobs: queue.Queue = queue.Queue(maxsize=self.concurrency)
        watchdog = batch_http._watchdog()
        workers = [threading.Thread(target=self._work, args=(jobs, watchdog), daemon=True, name=f"batch-{i}")
                   for i in range(self.concurrency)]
        for w in workers:
            w.start()
        try:
            for request in requests:
                if not self._put(jobs, request):
                    break
            for _ in workers:
                self._put(jobs, None, always=True)
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except KeyboardInterrupt:
            # Whatever is in flight is abandoned; the lock waits out a write in progress, so the file ends whole.
            self.stop.set()
            with self._write:
                self.out.flush()
                self.summary.interrupted = True
                self.summary.wall_s = time.perf_counter() - started
            raise
        self.summary.wall_s = time.perf_counter() - started
        if self.failure is not None:
            raise self.failure
        return self.summary

    def _put(self, jobs: queue.Queue, item: object, always: bool = False) -> bool:
        while True:
            if self.stop.is_set() and not always:
                return False
            try:
                jobs.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue


def batch_format_json(record: dict) -> str:
    # ensure_ascii: a record is one line whatever the model wrote (U+2028 and friends included).
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


# ------------------------------------------------------------------ files: input, output, resume

def is_stream(path: str) -> bool:
    return path == "-" or not os.path.isfile(path)


def prepare_output(path: str) -> tuple[set[str], int]:
    """(custom_ids already done in `path`, results dropped to be sent again).

    Dropped: a last line cut short by a crash, and results that only say the server could
    not answer then (connection, timeout, 429, 5xx) -- resuming retries those, so every
    custom_id still appears once. The file is rewritten (atomically) only when a line is dropped.
    """
    if not os.path.isfile(path):
        return set(), 0  # nothing yet, or a pipe or device: nothing to resume from
    done: set[str] = set()
    dropped = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.endswith(b"\n") or not raw.strip():
                dropped += bool(raw.strip())
                continue
            record = batch_format.output_record(raw.decode("utf-8", "replace"), path, number)
            if batch_format.worth_retrying(record):
                dropped += 1
            else:
                done.add(record["custom_id"])
    if dropped:
        _rewrite_without_dropped(path)
    return done, dropped


def _rewrite_without_dropped(path: str) -> None:
    tmp = f"{path}.resume-{os.getpid()}"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        for number, raw in enumerate(src, 1):
            if raw.endswith(b"\n") and raw.strip():
                record = batch_format.output_record(raw.decode("utf-8", "replace"), path, number)
                if not batch_format.worth_retrying(record):
                    dst.write(raw)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)
