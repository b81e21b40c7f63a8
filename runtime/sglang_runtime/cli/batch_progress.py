"""What a batch run shows while it runs and when it ends: numbers only, never text from the server.

On a terminal, a tqdm bar (tqdm comes with huggingface_hub, already a dependency; it
does the rate, ETA and terminal-width work better than code we would write); elsewhere
(a log, a CI job, `kubectl logs`) one plain line every `interval` seconds.
"""

from __future__ import annotations

import time
from typing import Callable, TextIO

from ..operate.batch import Summary


def _rates(summary: Summary, elapsed: float) -> tuple[float, float]:
    elapsed = max(elapsed, 1e-9)
    return summary.done / elapsed, summary.completion_tokens / elapsed


class Bar:
    def __init__(self, total: int | None, stream: TextIO) -> None:
        from tqdm import tqdm

        self.started = time.perf_counter()
        self.bar = tqdm(total=total, unit="req", file=stream, dynamic_ncols=True, smoothing=0.1,
                        desc="batch", mininterval=0.2)

    def update(self, record: dict, summary: Summary) -> None:
        _, tokens = _rates(summary, time.perf_counter() - self.started)
        self.bar.set_postfix_str(f"{tokens:.0f} tok/s, {summary.failed} errors", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class Lines:
    def __init__(self, total: int | None, write: Callable[[str], None], interval: float = 10.0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.total, self.write, self.interval, self.clock = total, write, interval, clock
        self.started = self.last = clock()
        self.summary: Summary | None = None

    def update(self, record: dict, summary: Summary) -> None:
        self.summary = summary
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.write(self.line(summary, now - self.started))

    def line(self, summary: Summary, elapsed: float) -> str:
        rate, tokens = _rates(summary, elapsed)
        of = f"/{self.total}" if self.total is not None else ""
        eta = ""
        if self.total is not None and rate > 0:
            eta = f", ETA {max(self.total - summary.done, 0) / rate:.0f} s"
        return (f"[{elapsed:7.1f}s] {summary.done}{of} done, {rate:.2f} req/s, {tokens:.0f} tok/s, "
                f"{summary.failed} errors{eta}")

    def close(self) -> None:
        pass


def summary_lines(s: Summary) -> list[str]:
    d = s.as_dict()
    statuses = ", ".join(f"{k}: {n}" for k, n in d["by_status"].items()) or "none"
    skipped = f" ({s.skipped} already in the output, skipped)" if s.skipped else ""
    return [
        f"{s.done} requests{skipped} in {s.wall_s:.1f} s at concurrency {s.concurrency}; by status: {statuses}"
        + (f"; {s.retries} retries" if s.retries else ""),
        f"tokens: {s.prompt_tokens} prompt ({s.cached_tokens} cached), {s.completion_tokens} completion; "
        f"{d['requests_per_s']:.2f} req/s, {d['completion_tokens_per_s']:.1f} completion tok/s",
    ]
