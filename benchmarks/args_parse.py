#!/usr/bin/env python3
"""How long a 1 MB args-file line takes to split: shellwords (ours) vs shlex (what it replaced).

    .venv/bin/python benchmarks/args_parse.py

Two shapes of line: many short words (the worst case for a per-word loop) and one long quoted
value (a big JSON argument). Prints seconds (median of 5) and the ratio; the target is well
under a second for a 1 MB line.
"""

from __future__ import annotations

import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runtime"))
from sglang_runtime.util import shellwords  # noqa: E402

LINES = {
    "many words": " ".join(["--x", 'a"b c"d', "'e f'"] * 60000)[: 1 << 20],
    "one quoted value": "--preferred-sampling-params '" + '{"k": "' + "v" * ((1 << 20) - 40) + '"}' + "'",
}


def median_seconds(fn, text, runs=5):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(text, comments=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


for name, line in LINES.items():
    ours = median_seconds(shellwords.split, line)
    theirs = median_seconds(shlex.split, line)
    print(f"{name:18s} {len(line) / 1e6:.2f} MB  shellwords {ours:.3f} s  shlex {theirs:.3f} s  "
          f"shlex/shellwords {theirs / ours:.1f}x")
