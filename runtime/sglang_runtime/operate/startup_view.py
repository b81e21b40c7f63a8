"""What `wait` shows of a start: the phases read from the server's log (phases.py), three ways.

- "live" (a terminal): one line redrawn in place by tqdm (already in our closure:
  huggingface_hub depends on it) — phase, its progress, elapsed, and an estimate
  from the last start of the same model and settings.
- "plain" (CI, `flox services logs`, `kubectl logs`): one line per phase change,
  no carriage returns.
- "json": one event per line, {"phase", "done", "total", "t"} (+ "unit"), for tools.

Only our own words and numbers are printed here: no text of the log reaches the
output through this module.
"""

from __future__ import annotations

import json
import os
from typing import Callable, TextIO

from . import phases


def process_age(pid: int) -> float:
    """Seconds since `pid` started (0 if unknown): the start-up clock starts with the server, not with `wait`."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        started = int(stat[stat.rfind(")") + 2:].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, uptime - started)
    except (OSError, ValueError, IndexError):
        return 0.0


class StartupView:
    def __init__(self, mode: str, out: TextIO, clock: Callable[[], float], offset: float = 0.0,
                 estimate: float | None = None) -> None:
        self.mode, self.out, self.clock = mode, out, clock
        self.origin = clock() - offset
        self.estimate = estimate
        self.timeline = phases.Timeline(0.0)
        self._shown: phases.Event | None = None
        self._bar = None
        self._emit(phases.Event("imports"), new_phase=True)

    def now(self) -> float:
        return self.clock() - self.origin

    # ----------------------------------------------------------------- input
    def lines(self, lines: list[str]) -> None:
        """New log lines (possibly none: then it is a tick that redraws the live line)."""
        for line in lines:
            event = phases.parse(line)
            if event is not None:
                self.event(event)
        if self._bar is not None:
            self._draw(self.timeline.current)

    def event(self, event: phases.Event) -> None:
        if self.timeline.current.phase == "ready":
            return  # lines after ready (requests) are not start-up
        new_phase = self.timeline.feed(event, self.now())
        if new_phase or event != self._shown:
            self._emit(event, new_phase)

    def ready(self) -> None:
        self.event(phases.Event("ready"))

    def note(self, text: str) -> None:
        """A line of our own (an HTTP state change) that must not tear the live line."""
        if self._bar is not None:
            self._bar.write(text, file=self.out)
        else:
            print(text, file=self.out, flush=True)

    def durations(self) -> dict[str, float]:
        return self.timeline.finish(self.now())

    def close(self) -> None:
        if self._bar is not None:
            self._draw(self.timeline.current)
            self._bar.close()
            self._bar = None

    # ----------------------------------------------------------------- output
    def _estimate_text(self, t: float) -> str:
        if self.estimate is None or self.timeline.current.phase == "ready":
            return ""
        left = self.estimate - t
        return f", ~{left:.0f} s left (last start {self.estimate:.0f} s)" if left > 0 else \
            f", {-left:.0f} s past the estimate (last start {self.estimate:.0f} s)"

    def _emit(self, event: phases.Event, new_phase: bool) -> None:
        self._shown = event
        t = self.now()
        if self.mode == "json":
            record = {"phase": event.phase, "done": event.done, "total": event.total, "t": round(t, 2)}
            if event.unit:
                record["unit"] = event.unit
            print(json.dumps(record), file=self.out, flush=True)
        elif self.mode == "plain":
            if new_phase:
                print(f"[{t:7.1f}s] phase: {phases.describe(event)}{self._estimate_text(t)}", file=self.out, flush=True)
        else:
            self._draw(event)

    def _draw(self, event: phases.Event) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=None, file=self.out, bar_format="{desc}", dynamic_ncols=True, leave=True)
        t = self.now()
        self._bar.set_description_str(f"[{t:6.1f}s] {phases.describe(event)}{self._estimate_text(t)}", refresh=True)
