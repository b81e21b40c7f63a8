"""Plain phase lines where users already look: the Flox service log and the pod log, from `serve` itself.

`serve` execs SGLang, so the server keeps the service's PID (Flox stops it,
Kubernetes signals it). Just before the exec, `serve` starts this relay (not as a child of the server) and points
the server's stdout and stderr at a pipe to it. The relay writes every byte it
reads to the service's own stdout, whole lines only, and between them, one plain
line per phase change ("[   12.3s] phase: loading weights 1/4 shards"); at the
end of start-up, the start-up report line. After that it only relays.

It must never be what kills the server: it ignores the signals a stop sends to the
group (the server's children still write their last lines after SIGTERM), keeps
reading if the service's stdout goes away (the server must not get EPIPE), and
ends when the last writer closes the pipe.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from . import phases, startup_report, startup_view

CHUNK = 1 << 16
HOLD = 1 << 16  # a partial line longer than this is passed on as it is


class _Out:
    """Write-all to a file descriptor; after the first failure, write nothing (and keep draining the pipe)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.ok = fd, True

    def write(self, data: bytes | str) -> int:
        raw = data.encode() if isinstance(data, str) else data
        while self.ok and raw:
            try:
                raw = raw[os.write(self.fd, raw):]
            except InterruptedError:
                continue
            except OSError:
                self.ok = False
        return len(data)

    def flush(self) -> None:
        pass


def relay(read_fd: int, out: _Out, view: startup_view.StartupView | None, on_end=None) -> None:
    """Copy `read_fd` to `out` in whole lines, feeding each to `view` until start-up ends; `on_end(result)` once."""
    partial = b""
    ended = view is None
    while True:
        try:
            data = os.read(read_fd, CHUNK)
        except InterruptedError:
            continue
        if not data:
            break
        data = partial + data
        complete, newline, partial = data.rpartition(b"\n")
        if len(partial) > HOLD:
            complete, newline, partial = data, b"", b""
        if complete or newline:
            out.write(complete + newline)
        if not ended:
            view.lines(complete.decode("utf-8", "replace").split("\n") if complete else [])
            if view.timeline.current.phase == "ready":
                ended = True
                if on_end is not None:
                    on_end("ready")
    if partial:
        out.write(partial)
    if not ended and on_end is not None:
        on_end("exited")


def start(values, plan_, close: tuple[int, ...] = ()) -> None:
    """Start the relay and point this process's stdout and stderr at it. Call just before exec; `close`:
    inheritable descriptors meant for the server only (the secrets' hand-over pipe), which the relay must not hold."""
    root = _root(values)
    key = startup_report.start_key(plan_.version, plan_.split()[0])
    last = startup_report.last_start(root, key)
    noted = startup_report.pending(root, os.getpid()) or {"key": key, "model": values.get("SGLANG_MODEL"), "version": plan_.version}
    read_fd, write_fd = os.pipe()
    job = {"root": str(root), "noted": noted, "estimate": last["total"] if last else None, "read": read_fd, "out": os.dup(1)}
    # Twice: the relay must not be the server's child. SGLang SIGKILLs every child process it has when it
    # exits, and the relay has to outlive it to pass on its last lines (0.5.9 kills its whole process group
    # at the very end; by then there is nothing left to pass on).
    first = os.fork()
    if first == 0 and os.fork() != 0:
        os._exit(0)
    if first == 0:
        try:
            for fd in (write_fd, *close):
                os.close(fd)
            for fd in (job["read"], job["out"]):
                os.set_inheritable(fd, True)
            # A fresh interpreter with an empty environment: a fork would keep the launcher's environment
            # (an API key, a Hub token) in /proc/<relay>/environ for as long as the server runs.
            package_root = str(Path(__file__).resolve().parents[2])
            os.execve(sys.executable, [sys.executable, "-I", "-c", _MAIN, package_root, json.dumps(job)], {})
        except OSError:
            _run(job)  # no interpreter to exec: relay from here rather than leave the server a pipe with no reader
        finally:
            os._exit(0)
    os.waitpid(first, 0)
    os.close(read_fd)
    os.close(job["out"])
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)


_MAIN = "import json, sys; sys.path.insert(0, sys.argv[1]); " \
        "from sglang_runtime.operate.startup_relay import main; main(json.loads(sys.argv[2]))"


def main(job: dict) -> None:
    try:
        _run(job)
    finally:
        os._exit(0)


def _run(job: dict) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    root, noted, out = Path(job["root"]), job["noted"], _Out(job["out"])
    view = startup_view.StartupView("plain", out, time.monotonic, estimate=job["estimate"])

    def on_end(result: str) -> None:
        entry = startup_report.record(root, noted, result, view.now(), view.durations())
        out.write(f"[{view.now():7.1f}s] start-up report: {startup_report.summary(entry)}\n")

    relay(job["read"], out, view, on_end)


def _root(values):
    from ..config import settings

    return settings.path(values, "SGLANG_RUNTIME_CACHE")
