#!/usr/bin/env python3
"""Why the contract tests batch argvs into one long-lived SGLang worker.

Measures, in this one run, with the real SGLang folders from
scripts/install-sglang.sh:
  S = a fresh process that imports sglang.srt.server_args and parses ONE argv
      (what a naive helper would pay per argv),
  W = starting the worker (same import, once per test session),
  P = one argv parsed by the warm worker (mean over a batch of N),
and prints them as ratios: S/P is how much a per-argv subprocess would cost
against the worker, W/S that the worker start is no dearer than one naive call.

Usage: .venv/bin/python benchmarks/sglang_parse.py [VERSION] [N]
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import sglang_support as sg  # noqa: E402

ONE_SHOT = """
import argparse, sys
from sglang.srt.server_args import ServerArgs
p = argparse.ArgumentParser(); ServerArgs.add_cli_args(p); p.parse_args(sys.argv[1:])
"""


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else "0.5.23"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    site = sg.sglang_dir(version)
    argv = ["--model-path", "/models/m", "--host", "0.0.0.0", "--port", "30000", "--tp-size", "2"]

    singles = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", ONE_SHOT, *argv], cwd=site,
                       env=sg._child_env(site), check=True, capture_output=True)
        singles.append(time.perf_counter() - t)
    s = statistics.median(singles)

    t = time.perf_counter()
    sg._worker(version)._wait_ready()  # the worker starts at once; its import is what costs
    w = time.perf_counter() - t

    # Distinct argvs, so the per-process cache does not answer.
    batch = [argv + ["--random-seed", str(i)] for i in range(n)]
    t = time.perf_counter()
    results = sg.parse_argvs(version, batch)
    p = (time.perf_counter() - t) / n
    assert all(r.ok for r in results)

    print(f"sglang {version}: one-shot process S = {s:.2f} s, worker start W = {w:.2f} s, "
          f"warm parse P = {p * 1000:.1f} ms (mean over a batch of {n})")
    print(f"S/P = {s / p:.0f}x   (a subprocess per argv vs the warm worker)")
    print(f"W/S = {w / s:.2f}    (worker start vs one one-shot process)")
    print(f"{n} argvs: one-shot each would take {n * s:.0f} s, the worker {w + n * p:.1f} s "
          f"(ratio {(n * s) / (w + n * p):.0f}x)")


if __name__ == "__main__":
    main()
