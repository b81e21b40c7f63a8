#!/usr/bin/env python3
"""Real SGLang servers on the CPU: what the launcher costs, measured in one run.

    .venv/bin/python benchmarks/real_server.py [--runs 3] [--versions 0.5.23,0.5.9] [--smollm2]
    (--versions '' with --smollm2: only the decode comparison)

Needs what `bash scripts/test.sh` installs (.venv, .cache/sglang-*, .cache/serve-*) and, with
--smollm2, the SmolLM2 bundle (scripts/build-smollm2-bundle.py). The one stand-in is
cpu/standin/sgl_kernel (PyPI has no CPU build of sgl_kernel).

1. Ready time (process start -> /health_generate 200) of a tiny model, per release, alternating:
   a) through the Flox service command (sglang-resolve-model && exec sglang-serve, with the
      in-process bootstrap), b) `python -m sglang.launch_server` with the same arguments,
   c) the service command with an API key (the key handover and the log redaction).
   Median of --runs each; ratios a/b (target <= 1.05) and c/a (no measurable cost).
2. With --smollm2: time to first token and decode tokens/s of one 128-token answer, through the
   launcher vs SGLang started directly with the same argv (0.5.23).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from serving import (SMOL_ID, TINY_ID, bundle, free_port, pythonpath, server_env,  # noqa: E402
                     start_server)

KEY = "sk-bench-key-0123456789"


def wait_ready(url: str, proc: subprocess.Popen, key: str | None, timeout: float = 600) -> float | None:
    import httpx2

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        try:
            if httpx2.get(url + "/health_generate", headers=headers, timeout=30).status_code == 200:
                return time.monotonic()
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    return None


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def start(kind: str, version: str, home: Path, flox_env: Path, model_id: str, port: int):
    """(process, url, started_at). kind: launcher | direct | launcher+key."""
    extra = {"SGLANG_API_KEY": KEY} if kind == "launcher+key" else {}
    env = server_env(version, home, flox_env, model_id, port, **extra)
    log = open(home / f"{kind}-{port}.log", "wb")
    # direct: the launcher's argv and environment changes, run plainly (serving.start_server).
    proc, started = start_server(env, log, kind == "direct")
    return proc, f"http://127.0.0.1:{port}", started


def ready_times(version: str, tiny: Path, runs: int, work: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"launcher": [], "direct": [], "launcher+key": []}
    for i in range(runs):
        for kind in out:  # alternate, so load drifts hit every kind alike
            home = work / f"{version}-{kind}-{i}"
            home.mkdir(parents=True)
            flox_env = home / "flox-env"
            bundle(flox_env, TINY_ID, tiny)
            port = free_port()
            proc, url, started = start(kind, version, home, flox_env, TINY_ID, port)
            ready = wait_ready(url, proc, KEY if kind == "launcher+key" else None)
            stop(proc)
            if ready is None:
                sys.exit(f"{version} {kind}: not ready; see {home}")
            out[kind].append(ready - started)
            print(f"  {version} {kind:13s} run {i + 1}: {ready - started:6.1f} s", file=sys.stderr, flush=True)
    return out


def decode_speed(kind: str, flox_env: Path, work: Path, requests: int = 5) -> tuple[float, float]:
    from openai import OpenAI

    home = work / f"smol-{kind}"
    home.mkdir(parents=True)
    port = free_port()
    proc, url, _ = start(kind, "0.5.23", home, flox_env, SMOL_ID, port)
    try:
        if wait_ready(url, proc, None) is None:
            sys.exit(f"smollm2 {kind}: not ready; see {home}")
        client = OpenAI(base_url=url + "/v1", api_key="EMPTY")
        client.chat.completions.create(model=SMOL_ID, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
        ttfts, speeds = [], []
        for _ in range(requests):  # one answer is too few on a 2-core machine: medians of several
            begun = time.perf_counter()
            first = None
            tokens = 0
            for chunk in client.chat.completions.create(
                    model=SMOL_ID, stream=True, temperature=0, max_tokens=128,
                    extra_body={"ignore_eos": True},
                    messages=[{"role": "user", "content": "Tell me about the history of Paris."}]):
                if chunk.choices and chunk.choices[0].delta.content:
                    tokens += 1
                    first = first or time.perf_counter()
            end = time.perf_counter()
            ttfts.append(first - begun)
            speeds.append((tokens - 1) / (end - first))
        return statistics.median(ttfts), statistics.median(speeds)
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--versions", default="0.5.23,0.5.9")
    parser.add_argument("--smollm2", action="store_true")
    args = parser.parse_args()
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    work = Path(tempfile.mkdtemp(prefix="bench-real-server."))
    tiny = work / "tiny"
    subprocess.run([sys.executable, str(ROOT / "tests" / "e2e" / "make_tiny_model.py"), str(tiny)], check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": pythonpath("0.5.23")})
    for version in filter(None, args.versions.split(",")):
        times = ready_times(version, tiny, args.runs, work)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"sglang {version}: ready, median of {args.runs}: launcher {med['launcher']:.1f} s, direct "
              f"{med['direct']:.1f} s, launcher with API key {med['launcher+key']:.1f} s | launcher/direct "
              f"{med['launcher'] / med['direct']:.3f} (target <= 1.05), with key/without "
              f"{med['launcher+key'] / med['launcher']:.3f}")
    if args.smollm2:
        flox_env = ROOT / ".cache" / "models" / "smollm2"
        via = decode_speed("launcher", flox_env, work)
        direct = decode_speed("direct", flox_env, work)
        print(f"smollm2 0.5.23, 128 tokens, median of 5 answers: launcher TTFT {via[0]:.3f} s, {via[1]:.1f} tok/s | direct TTFT "
              f"{direct[0]:.3f} s, {direct[1]:.1f} tok/s | TTFT ratio {via[0] / direct[0]:.3f}, "
              f"decode ratio {via[1] / direct[1]:.3f}")
    print(f"(work files in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
