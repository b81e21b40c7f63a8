"""Time the Flox on-activate hook against bare bash and the uncached hook it replaces.

Run with the project's venv (its bin/ holds `sglang-runtime`, the hook's cold path):

    .venv/bin/python benchmarks/hook.py [--sizes 700 1500] [--fast-runs 300] [--slow-runs 20]

For each closure size it builds (or reuses) a real Nix closure with
../shared/bench/make-closure.sh (SGLANG_SHARED_DIR overrides the location) and times,
interleaved in one run, medians of:
  bare      bash -c true
  warm      bash -c 'source hook'   cache present (the common case: every activation after the first),
                                     including the launcher guard (sglang-runtime and its dist-info,
                                     here the venv's: found by globbing its site-packages)
  unguarded bash -c 'source hook'   warm, with the launcher guard cut out: what the guard costs
  cold      bash -c 'source hook'   cache removed before each run (first activation: one closure walk)
  uncached  bash -c 'source benchmarks/uncached-hook.sh'   (three nix-store walks, shell loops)
and prints the ratios the issue sets as targets. Processes are started with posix_spawn and
their output goes to /dev/null, so the harness adds as little as possible to either side.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SGLANG_SHARED_DIR", REPO.parent / "shared"))
# As tests/nix_support.py: no nixbld group is needed (a host may have nix-bin without one).
NIX_CONFIG = "sandbox = false\nbuild-users-group =\nexperimental-features = nix-command flakes\nsubstituters =\n"
BASH = "/bin/bash"


def build(n: int, farm: Path) -> str:
    out = subprocess.run([BASH, str(SHARED / "bench" / "make-closure.sh"), str(n), str(farm)], check=True,
                         capture_output=True, text=True, env={**os.environ, "NIX_CONFIG": NIX_CONFIG})
    return out.stdout.split()[-1]


def timed(argv: list[str], env: dict[str, str]) -> float:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)])
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - start
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed")
    return elapsed


# The guard's block in the hook: from its first comment line to the `unset` of its variables.
GUARD = re.compile(r"^# The launcher this manifest needs.*?^unset _sg_need [^\n]*\n", re.M | re.S)


def measure(n: int, work: Path, hook: Path, fast_runs: int, slow_runs: int) -> dict[str, float]:
    farm = work / f"farm{n}"
    top = build(n, farm)
    cache = work / f"cache{n}"
    record = cache / "sglang-activate" / f"{Path(top).name}.env"
    env = {"PATH": f"{farm / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(work),
           "FLOX_ENV": str(farm), "FLOX_ENV_CACHE": str(cache)}
    commands = {
        "bare": [BASH, "-c", "true"],
        "warm": [BASH, "-c", f"source {hook}"],
        "unguarded": [BASH, "-c", f"source {hook.with_name('unguarded.sh')}"],
        "cold": [BASH, "-c", f"source {hook}"],
        "uncached": [BASH, "-c", f"source {REPO / 'benchmarks' / 'uncached-hook.sh'}"],
    }
    samples: dict[str, list[float]] = {k: [] for k in commands}
    timed(commands["warm"], env)  # writes the cache, and warms the page cache for everything
    # The warm path measured must be the silent one: cache hit, launcher accepted by the guard.
    check = subprocess.run(commands["warm"], env=env, capture_output=True, text=True)
    if check.stdout or check.stderr or not record.exists():
        raise SystemExit(f"the warm hook is not on its silent path: {check.stdout}{check.stderr}")
    timed(commands["uncached"], env)
    for i in range(fast_runs):
        for name in ("bare", "warm", "unguarded"):
            samples[name].append(timed(commands[name], env))
        if i < slow_runs:
            record.unlink()
            samples["cold"].append(timed(commands["cold"], env))
            samples["uncached"].append(timed(commands["uncached"], env))
    assert record.exists(), "the cold runs did not write the cache"
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(700, 1500), metavar=("SMALL", "LARGE"))
    parser.add_argument("--fast-runs", type=int, default=300)
    parser.add_argument("--slow-runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hook-bench-") as tmp:
        work = Path(tmp)
        hook = work / "hook.sh"
        with (REPO / ".flox" / "env" / "manifest.toml").open("rb") as f:
            hook.write_text(tomllib.load(f)["hook"]["on-activate"])
        unguarded, cut = GUARD.subn("", hook.read_text())
        if cut != 1:
            raise SystemExit("benchmarks/hook.py: the launcher guard's block was not found in the hook")
        hook.with_name("unguarded.sh").write_text(unguarded)
        results = {n: measure(n, work, hook, args.fast_runs, args.slow_runs) for n in args.sizes}

    small, large = args.sizes
    print(f"{'paths':>6} {'bare ms':>8} {'warm ms':>8} {'unguarded':>10} {'cold ms':>8} {'uncached ms':>12}")
    for n, r in results.items():
        print(f"{n:>6} {r['bare'] * 1e3:8.2f} {r['warm'] * 1e3:8.2f} {r['unguarded'] * 1e3:10.2f} {r['cold'] * 1e3:8.2f}"
              f" {r['uncached'] * 1e3:12.2f}")
    print()
    checks = []
    for n, r in results.items():
        checks += [
            (f"warm / bare bash at {n}", r["warm"] / r["bare"], "<= 3", r["warm"] / r["bare"] <= 3),
            (f"guard: (warm - unguarded) / bare at {n}", (r["warm"] - r["unguarded"]) / r["bare"], "", True),
            (f"uncached / warm at {n}", r["uncached"] / r["warm"], ">= 50", r["uncached"] / r["warm"] >= 50),
            (f"cold / uncached at {n}", r["cold"] / r["uncached"], "<= 1", r["cold"] <= r["uncached"]),
            (f"uncached / bare bash at {n}", r["uncached"] / r["bare"], "(issue: about 160 at 700)", True),
        ]
    size_growth = large / small
    cold_growth = results[large]["cold"] / results[small]["cold"]
    uncached_growth = results[large]["uncached"] / results[small]["uncached"]
    checks += [
        (f"closure growth {large}/{small}", size_growth, "", True),
        (f"cold growth {large}/{small}", cold_growth, f"<= {size_growth:.2f} (linear or better)",
         cold_growth <= size_growth),
        (f"uncached growth {large}/{small}", uncached_growth, "", True),
    ]
    for label, value, target, ok in checks:
        mark = "" if not target or target.startswith("(") else ("ok" if ok else "MISSED")
        print(f"{label:32} {value:8.2f}  {target} {mark}".rstrip())
    if not all(ok for *_, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
