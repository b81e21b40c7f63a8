"""Where a starting SGLang server is, read from its own log: a table of log lines, applied by pure code.

Each row names a phase, the text SGLang prints when it enters it (a literal
needle: no regex runs on a line that lacks it), an optional bounded regex for
its progress numbers, the releases it was read from, and a real line as its
source. Rows marked GPU were not printed by a CPU start here; their source is
SGLang's code (the hand-made logs in tests/fixtures/logs/gpu-shaped-*.log
quote it). Unknown lines are ignored; nothing here is ever fatal.

Hostile input stays linear: lines are cut to MAX_LINE before matching, every
repetition in the regexes is bounded, and a line full of carriage returns
(tqdm redrawing a bar) is read from its last few segments only.

Pure: text in, Event out. Reading the log is health.LogWatch's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# In the order a healthy start passes through them ("download" and "compile" only where they happen).
ORDER = ("imports", "args", "distributed", "download", "weights", "kv_cache", "compile", "graphs", "warmup", "ready")
LABEL = {
    "imports": "importing SGLang", "args": "server arguments parsed", "distributed": "distributed init",
    "download": "downloading weights", "weights": "loading weights", "kv_cache": "KV cache allocated",
    "compile": "compiling kernels", "graphs": "capturing CUDA graphs", "warmup": "warming up", "ready": "ready",
}
# What a CPU start (the real-server tier) prints, in order.
CPU_PHASES = ("imports", "args", "distributed", "weights", "kv_cache", "warmup", "ready")
MAX_LINE = 4096
MAX_SEGMENTS = 8
_ANSI = re.compile(r"\x1b\[[0-?]{0,32}[ -/]{0,8}[@-~]|\x1b[@-_]")
_FRACTION = re.compile(r"(?<![\d.])(\d{1,12})/(\d{1,12}) \[")
_BYTES = re.compile(r"(?<![\d.])(\d{1,6}(?:\.\d{1,3})?)([kMGTP]?)(?:i?B)?/(\d{1,6}(?:\.\d{1,3})?)([kMGTP]?)(?:i?B)? \[")
_TOKENS = re.compile(r"#tokens: (\d{1,12})")
_SCALE = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
ALL = ("0.5.9", "0.5.23")
GPU = "GPU"  # a row no CPU start printed here: its source is SGLang's code


@dataclass(frozen=True)
class Row:
    phase: str
    needle: str
    progress: str | None      # None, "fraction", "bytes" or "tokens"
    unit: str | None
    releases: tuple[str, ...]
    source: str               # a real log line, or for GPU rows the SGLang source line that prints it
    seen: str = "CPU"         # "CPU": in a real CPU log here; GPU: only in SGLang's code


@dataclass(frozen=True)
class Event:
    phase: str
    done: int | None = None
    total: int | None = None
    unit: str | None = None


TABLE: tuple[Row, ...] = (
    Row("args", "server_args=", None, None, ALL,
        "[2026-12-05 08:48:52] server_args=ServerArgs(model_path='/.../snapshots/0123...', ...)"),
    Row("distributed", "Init torch distributed begin.", None, None, ("0.5.9",),
        "[2026-12-05 08:49:03] Init torch distributed begin."),
    Row("distributed", "Init parallel begin.", None, None, ("0.5.23",),
        "[2026-12-05 08:48:33] Init parallel begin."),
    Row("weights", "Load weight begin.", None, None, ALL,
        "[2026-12-05 08:49:05] Load weight begin. avail mem=20.20 GB"),
    Row("download", ".safetensors:", "bytes", "B", ALL,
        "huggingface_hub file_download.http_get: tqdm(unit='B', unit_scale=True, desc=<file name>), e.g. "
        "'model-00001-of-00004.safetensors:  42%|####2     | 2.09G/4.97G [00:10<00:13, 209MB/s]'", GPU),
    Row("weights", "Loading safetensors checkpoint shards", "fraction", "shards", ALL,
        "Loading safetensors checkpoint shards: 100% Completed | 1/1 [00:00<00:00, 675.09it/s]"),
    Row("weights", "Multi-thread loading shards", "fraction", "shards", ALL,
        "Multi-thread loading shards: 100% Completed | 1/1 [00:00<00:00, 965.32it/s]"),
    Row("kv_cache", "KV Cache is allocated.", "tokens", "tokens", ALL,
        "[2026-12-05 08:49:05] KV Cache is allocated. #tokens: 4096, K size: 0.00 GB, V size: 0.00 GB"),
    Row("compile", "Compiling num tokens", "fraction", "shapes", ALL,
        "piecewise_cuda_graph_runner.py: set_description(f\"Compiling num tokens ({num_tokens=})\") on tqdm", GPU),
    Row("compile", "JIT Compiling for", None, None, ALL,
        "deep_gemm_wrapper/compile_utils.py: f\"Try DeepGEMM JIT Compiling for <{kernel_name}> ...\"", GPU),
    Row("graphs", "graph begin.", None, None, ALL,
        "0.5.9 model_runner.py: f\"Capture {graph_backend[self.device]} begin. This can take up to several minutes.\"; "
        "0.5.23 cuda_graph_setup.py: f\"Capture {capture_name} {graph_backend[device]} begin. ...\"", GPU),
    Row("graphs", "Capturing batches", "fraction", "batches", ALL,
        "cuda_graph_runner.py: capture_range.set_description(f\"Capturing batches ({bs=} {avail_mem=:.2f} GB)\")", GPU),
    Row("warmup", "Application startup complete.", None, None, ALL,
        "[2026-12-05 08:49:05] INFO:     Application startup complete."),
    Row("ready", "The server is fired up and ready to roll!", None, None, ALL,
        "[2026-12-05 08:49:24] The server is fired up and ready to roll!"),
)


def _number(text: str, scale: str) -> int:
    return int(float(text) * _SCALE[scale])


def _progress(row: Row, text: str) -> Event | None:
    if row.progress is None:
        return Event(row.phase)
    if row.progress == "tokens":
        found = _TOKENS.search(text)
        return Event(row.phase, int(found.group(1)), int(found.group(1)), row.unit) if found else Event(row.phase)
    if row.progress == "bytes":
        found = _BYTES.search(text)
        if not found:
            return None  # a file name in some other line: not a download bar
        return Event(row.phase, _number(found.group(1), found.group(2)), _number(found.group(3), found.group(4)), row.unit)
    found = _FRACTION.search(text)
    return Event(row.phase, int(found.group(1)), int(found.group(2)), row.unit) if found else Event(row.phase)


def clean(line: str) -> str:
    """The text a reader would see: no escape sequences; a redrawn bar's last drawing only."""
    if "\r" in line:
        segments = [s for s in line[-MAX_LINE * MAX_SEGMENTS:].split("\r") if s.strip()]
        line = segments[-1] if segments else ""
    line = line[:MAX_LINE]
    return _ANSI.sub("", line) if "\x1b" in line else line


def parse(line: str, release: str | None = None) -> Event | None:
    """The phase `line` announces (with its progress), or None. `release` limits the rows to one release's."""
    segments = [line] if "\r" not in line else [s for s in line[-MAX_LINE * MAX_SEGMENTS:].split("\r") if s.strip()]
    for segment in reversed(segments[-MAX_SEGMENTS:]):
        text = segment[:MAX_LINE]
        if "\x1b" in text:
            text = _ANSI.sub("", text)
        for row in TABLE:
            if row.needle in text and (release is None or release in row.releases):
                event = _progress(row, text)
                if event is not None:
                    return event
    return None


def describe(event: Event) -> str:
    """'loading weights 1/2 shards', 'KV cache allocated (4096 tokens)', 'downloading weights 2.1/5.0 GB'."""
    label = LABEL.get(event.phase, event.phase)
    if event.done is None:
        return label
    if event.unit == "tokens":
        return f"{label} ({event.done} tokens)"
    if event.unit == "B":
        return f"{label} {event.done / 1e9:.1f}/{(event.total or 0) / 1e9:.1f} GB"
    return f"{label} {event.done}/{event.total} {event.unit}"


class Timeline:
    """Events in, per-phase durations out. A phase lasts until the next phase begins; re-entering one
    (weights -> download -> weights) adds to it. Progress within a phase is not a new phase."""

    def __init__(self, start: float = 0.0) -> None:
        self.current: Event = Event("imports")
        self.entered = start
        self.durations: dict[str, float] = {}
        self.order: list[str] = ["imports"]

    def feed(self, event: Event, t: float) -> bool:
        """Record `event` seen at `t`; True if it began a new phase."""
        if event.phase == self.current.phase:
            self.current = event
            return False
        self.durations[self.current.phase] = self.durations.get(self.current.phase, 0.0) + max(0.0, t - self.entered)
        self.current, self.entered = event, t
        if event.phase not in self.order:
            self.order.append(event.phase)
        return True

    def finish(self, t: float) -> dict[str, float]:
        """Durations with the current phase closed at `t` (the phase 'ready' takes no time)."""
        out = dict(self.durations)
        if self.current.phase != "ready":
            out[self.current.phase] = out.get(self.current.phase, 0.0) + max(0.0, t - self.entered)
        return {phase: round(out[phase], 1) for phase in self.order if phase in out}
