#!/usr/bin/env python3
"""CPU time of `sglang-runtime wait` per second of start-up, and of serve's relay per MB of server output.

A recorded real SGLang start (tests/fixtures/logs/, 0.5.9 tiny model by default) is
replayed into a log file at its recorded pace (the lines' timestamps; lines without one
follow the previous), divided by --speed. A real HTTP peer on 127.0.0.1
(tests/sglang_peer.py, standing in for SGLang's readiness endpoint) opens its port when
the replay reaches "Application startup complete." and answers 200 after the
"fired up" line. Arms, alternated every round so machine noise hits each alike:
  none   `wait` without --log (HTTP polling only: today's cost floor)
  plain  `wait --log FILE` (phases as plain lines)
  json   `wait --log FILE --json`
The number is the child's user+system CPU seconds (wait4) divided by the wall seconds
of the start. Then the relay (serve's phase lines): CPU seconds per MB of output,
copying a megabyte-scale log through a pipe as fast as it can.

Usage: .venv/bin/python benchmarks/wait_cost.py [--rounds 5] [--speed 1] [--log PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from sglang_peer import Peer, free_port  # noqa: E402

from sglang_runtime.operate import startup_relay  # noqa: E402

BIN = Path(sys.executable).parent
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]")


def paced(lines: list[str]) -> list[tuple[float, str]]:
    """(seconds after the first timestamp, line) for each line."""
    out, first, last = [], None, 0.0
    for line in lines:
        found = _STAMP.match(line)
        if found:
            t = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            first = t if first is None else first
            last = t - first
        out.append((last, line))
    return out


def one_start(lines: list[tuple[float, str]], speed: float, arm: str, tmp: Path) -> float:
    log = tmp / f"{arm}.log"
    log.write_text("")
    port = free_port()
    peers: list[Peer] = []

    def replay() -> None:
        begun = time.monotonic()
        with open(log, "a") as fh:
            for t, line in lines:
                delay = t / speed - (time.monotonic() - begun)
                if delay > 0:
                    time.sleep(delay)
                fh.write(line + "\n")
                fh.flush()
                if "Application startup complete." in line:  # the port opens; 503 until warm-up ends
                    peers.append(Peer(port, warmup_503s=10**9).__enter__())
                if "fired up and ready to roll" in line and peers:
                    peers[0].warmup_left = 0

    args = [str(BIN / "sglang-runtime"), "wait", "--url", f"http://127.0.0.1:{port}", "--interval", "1", "--timeout", "600"]
    if arm != "none":
        args += ["--log", str(log)] + (["--json"] if arm == "json" else [])
    feeder = threading.Thread(target=replay, daemon=True)
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")})
    feeder.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        feeder.join()
        for peer in peers:
            peer.__exit__(None, None, None)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"wait ({arm}) exited {os.waitstatus_to_exitcode(status)}")
    return (usage.ru_utime + usage.ru_stime) / wall


def relay_cost(lines: list[str], megabytes: int = 64) -> float:
    """CPU seconds per MB through startup_relay.relay (with the phase view until ready, then plain copying)."""
    from sglang_runtime.operate import startup_view

    block = ("\n".join(lines) + "\n").encode()
    payload = block * max(1, (megabytes << 20) // len(block))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view[: 1 << 16]):]
        os._exit(0)
    os.close(write_fd)
    sink = os.open(os.devnull, os.O_WRONLY)
    view = startup_view.StartupView("plain", startup_relay._Out(sink), time.monotonic)
    begun = time.process_time()
    startup_relay.relay(read_fd, startup_relay._Out(sink), view)
    spent = time.process_time() - begun
    os.waitpid(pid, 0)
    return spent / (len(payload) / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--speed", type=float, default=1.0, help="replay this many times faster than recorded")
    parser.add_argument("--log", type=Path, default=ROOT / "tests" / "fixtures" / "logs" / "0.5.9-tiny.log")
    opts = parser.parse_args()
    raw = opts.log.read_bytes().decode("utf-8", "replace").split("\n")
    end = next(i for i, line in enumerate(raw) if "fired up and ready to roll" in line)
    lines = paced(raw[: end + 1])
    print(f"log {opts.log.name}: {len(lines)} lines, {lines[-1][0]:.0f} s recorded, replayed at {opts.speed}x")
    import tempfile

    results: dict[str, list[float]] = {"none": [], "plain": [], "json": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(opts.rounds):
            for arm in results:
                results[arm].append(one_start(lines, opts.speed, arm, Path(tmp)))
    base = statistics.median(results["none"])
    for arm, values in results.items():
        med = statistics.median(values)
        print(f"wait {arm:5}: {med * 1000:6.2f} ms CPU per s of start-up (min {min(values) * 1000:.2f}, "
              f"max {max(values) * 1000:.2f}; {med / base:.2f}x the no-log floor)")
    relay = [relay_cost(raw) for _ in range(3)]
    print(f"serve relay: {statistics.median(relay) * 1000:.1f} ms CPU per MB of server output "
          f"(min {min(relay) * 1000:.1f}, max {max(relay) * 1000:.1f})")


if __name__ == "__main__":
    main()
