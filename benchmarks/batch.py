#!/usr/bin/env python3
"""`sglang-runtime batch` throughput against SGLang's own load generator and a one-at-a-time loop, in one run.

    flock /tmp/e2e.lock .venv/bin/python benchmarks/batch.py [--requests 32] [--concurrency 8] [--rounds 3]

One real SGLang 0.5.23 server on the CPU (SmolLM2-135M-Instruct, the tier's bundle in
.cache/models/smollm2; the one stand-in is cpu/standin/sgl_kernel), the same prompts for
every arm: SGLang's random-ids generator (sglang.benchmark.datasets.random, the function
`bench_serving --dataset-name random-ids` calls, with its seed), `--random-input-len`
tokens in, `--random-output-len` tokens out (ignore_eos, as bench_serving sends), on
/v1/completions. Arms, in rotating order each round:
  a) `sglang-runtime batch` (a subprocess, as a user runs it) at --concurrency;
  b) `python -m sglang.bench_serving --backend sglang-oai` (random-ids, same count and concurrency);
  c) one request at a time, the loop people write by hand (httpx2, one connection).
Stand-ins: cpu/standin/sgl_kernel (as everywhere on the CPU) and, for bench_serving's import only,
a `datasets` module (SGLang's benchmark package imports Hugging Face `datasets` for MMMU; the
serving closure does not install it and the random-ids path never calls it).
The prefix cache is flushed before each arm (they send the same prompts).
Throughput is requests/s over each arm's own sending time (bench_serving's `duration`, the
batch summary's `wall_s`); printed per round, then medians with their spread and the ratios
batch/bench_serving (target >= 0.9) and batch/one-at-a-time.
"""

from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT / "benchmarks"))
from real_server import start, stop, wait_ready  # noqa: E402
from serving import BIN, SMOL_ID, free_port, pythonpath  # noqa: E402

VERSION = "0.5.23"
SEED = 25

PROMPTS = """
import json, random, sys
import numpy as np
from transformers import AutoTokenizer
from sglang.benchmark.datasets.random import sample_random_requests
random.seed(int(sys.argv[2])); np.random.seed(int(sys.argv[2]))
rows = sample_random_requests(input_len=int(sys.argv[3]), output_len=int(sys.argv[4]), num_prompts=int(sys.argv[5]),
                              range_ratio=1.0, tokenizer=AutoTokenizer.from_pretrained(sys.argv[1]), dataset_path="",
                              random_sample=False)
open(sys.argv[6], "w").write(json.dumps([[r.prompt, r.output_len] for r in rows]))
"""


def snapshot() -> Path:
    found = sorted((ROOT / ".cache" / "models" / "smollm2").glob("share/models/hub/models--*/snapshots/*"))
    if not found:
        sys.exit("no SmolLM2 bundle in .cache/models/smollm2 (python scripts/build-smollm2-bundle.py)")
    return found[0]


STANDIN_DATASETS = ('"""Stand-in for Hugging Face `datasets`, which the serving closure does not install: SGLang\'s benchmark\n'
                    'package imports it for MMMU only; the random-ids path never calls it."""\n\n\n'
                    'def load_dataset(*args, **kwargs):\n    raise RuntimeError("stand-in datasets: not installed")\n')


def sglang_env(work: Path) -> dict[str, str]:
    standin = work / "standin"
    (standin / "datasets").mkdir(parents=True, exist_ok=True)
    (standin / "datasets" / "__init__.py").write_text(STANDIN_DATASETS)
    return {**os.environ, "PYTHONPATH": f"{standin}{os.pathsep}{pythonpath(VERSION)}", "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def make_prompts(work: Path, args) -> list[tuple[str, int]]:
    out = work / "prompts.json"
    subprocess.run([sys.executable, "-c", PROMPTS, str(snapshot()), str(SEED), str(args.input_len), str(args.output_len),
                    str(args.requests), str(out)], env=sglang_env(work), check=True, capture_output=True)
    return [tuple(p) for p in json.loads(out.read_text())]


def body(prompt: str, output_len: int) -> dict:
    # What bench_serving's sglang-oai backend sends, less the stream.
    return {"model": SMOL_ID, "prompt": prompt, "max_tokens": output_len, "temperature": 0.0, "ignore_eos": True}


def arm_batch(url: str, batch_file: Path, work: Path, concurrency: int) -> float:
    out = work / f"batch-{time.monotonic_ns()}.jsonl"
    proc = subprocess.run([str(BIN / "sglang-runtime"), "batch", str(batch_file), "-o", str(out), "--url", url,
                           "--concurrency", str(concurrency), "--json"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        sys.exit(f"batch failed: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    return summary["requests"] / summary["wall_s"]


def arm_bench_serving(url: str, work: Path, args) -> float:
    out = work / f"bench-{time.monotonic_ns()}.json"
    proc = subprocess.run([sys.executable, "-m", "sglang.bench_serving", "--backend", "sglang-oai", "--base-url", url,
                           "--model", SMOL_ID, "--tokenizer", str(snapshot()), "--dataset-name", "random-ids",
                           "--random-input-len", str(args.input_len), "--random-output-len", str(args.output_len),
                           "--random-range-ratio", "1", "--num-prompts", str(args.requests),
                           "--max-concurrency", str(args.concurrency), "--seed", str(SEED), "--output-file", str(out),
                           "--disable-tqdm"], env=sglang_env(work), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not out.exists():
        sys.exit(f"bench_serving failed: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    result = json.loads(out.read_text().splitlines()[-1])
    if result["completed"] != args.requests:
        sys.exit(f"bench_serving completed {result['completed']} of {args.requests}")
    return result["request_throughput"]


def arm_one_at_a_time(url: str, prompts: list[tuple[str, int]]) -> float:
    import httpx2

    with httpx2.Client(timeout=600) as client:
        started = time.perf_counter()
        for prompt, output_len in prompts:
            response = client.post(url + "/v1/completions", json=body(prompt, output_len))
            response.raise_for_status()
        return len(prompts) / (time.perf_counter() - started)


def flush_cache(url: str) -> None:
    """Empty the server's prefix cache: every arm sends the same prompts, and only the first would pay their prefill."""
    import httpx2

    response = httpx2.post(url + "/flush_cache", timeout=60)
    if response.status_code != 200:
        sys.exit(f"/flush_cache: HTTP {response.status_code}: {response.text[:200]}")


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med:.3f} req/s (min {min(values):.3f}, max {max(values):.3f}, spread {(max(values) - min(values)) / med:.0%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--input-len", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    prompts = make_prompts(work, args)
    batch_file = work / "in.jsonl"
    batch_file.write_text("".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/completions",
                                              "body": body(p, n)}) + "\n" for i, (p, n) in enumerate(prompts)))
    port = free_port()
    (work / "server").mkdir()
    proc, url, _ = start("launcher", VERSION, work / "server", ROOT / ".cache" / "models" / "smollm2", SMOL_ID, port)
    try:
        if wait_ready(url, proc, None) is None:
            sys.exit(f"server not ready; see {work / 'server'}")
        # Warm-up, unmeasured: the first requests and the first full batch are slower.
        warm = work / "warm.jsonl"
        warm.write_text("".join(batch_file.read_text().splitlines(keepends=True)[:args.concurrency]))
        arm_batch(url, warm, work, args.concurrency)
        arms = {"batch": lambda: arm_batch(url, batch_file, work, args.concurrency),
                "bench_serving": lambda: arm_bench_serving(url, work, args),
                "one_at_a_time": lambda: arm_one_at_a_time(url, prompts)}
        names = list(arms)
        results: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds):
            order = names[r % 3:] + names[:r % 3]
            for name in order:
                flush_cache(url)
                results[name].append(arms[name]())
            print(f"round {r + 1}: " + ", ".join(f"{n} {results[n][-1]:.3f} req/s" for n in names), flush=True)
    finally:
        stop(proc)
    med = {n: statistics.median(v) for n, v in results.items()}
    ratios = [b / s for b, s in zip(results["batch"], results["bench_serving"])]
    print(f"sglang {VERSION}, SmolLM2-135M on the CPU, {args.requests} requests x {args.input_len} in / {args.output_len} "
          f"out tokens, concurrency {args.concurrency}, {args.rounds} rounds (arms alternated):")
    for n in names:
        print(f"  {n:14s} {spread(results[n])}")
    print(f"  batch / bench_serving: {med['batch'] / med['bench_serving']:.3f} of medians (target >= 0.9); "
          f"per round {', '.join(f'{x:.3f}' for x in ratios)}")
    print(f"  batch / one-at-a-time: {med['batch'] / med['one_at_a_time']:.2f}x")
    print(f"(work files in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
