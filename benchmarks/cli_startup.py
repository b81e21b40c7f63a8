#!/usr/bin/env python3
"""Start-up cost of the service path, as ratios to B = `python -c "import click"` (the floor of any click command).

Targets (issue 2): `sglang-serve --dry-run` <= 1.5 B; `sglang-resolve-model` on a
bundled 200-shard model: warm (shadow exists) <= 2 B, cold with the compat shadow <= 3 B.
Issue 13: the dry run stays <= 1.5 B with SGLang's flag data in use (0.5.9's file, the smallest,
and 0.5.23's, the largest); a typo in SGLANG_EXTRA_ARGS is refused (exit 2) within 2 B, where
SGLang itself needs seconds of imports to say so (that error path also reads every release's data
to say which releases have the flag).
Every number is a median of N runs of a fresh process, measured in this one run.

Usage: .venv/bin/python benchmarks/cli_startup.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
MODEL = "bench/two-hundred-shards"
SHARDS = 200


def medians(cases: dict[str, tuple[list[str], dict[str, str], object]], runs: int,
            expect: dict[str, int] | None = None) -> dict[str, float]:
    """Round-robin over the cases, so load from elsewhere on the machine hits every case alike.
    expect: the exit status a case must end with (default 0)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (argv, env, before) in cases.items():
            if before:
                before()
            start = time.perf_counter()
            rc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            times[name].append(time.perf_counter() - start)
            if rc != (expect or {}).get(name, 0):
                raise SystemExit(f"{name}: exit {rc}")
    return {name: statistics.median(values) for name, values in times.items()}


def flagdata_load_ms(release: str, runs: int) -> float:
    """Loading one release's flag data in-process (the file read and JSON parse serve pays once)."""
    from sglang_runtime.launch import flagdata

    samples = []
    for _ in range(runs):
        flagdata.load.cache_clear()
        start = time.perf_counter()
        flagdata.load(release)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def make_bundle(root: Path) -> Path:
    snapshot = root / "flox-env/share/models/hub" / ("models--" + MODEL.replace("/", "--")) / "snapshots" / ("c" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs/main").write_text("c" * 40)
    names = [f"model-{i:05d}-of-{SHARDS:05d}.safetensors" for i in range(1, SHARDS + 1)]
    for name in names:
        (snapshot / name).write_bytes(b"\0")
    weight_map = {f"model.layers.{i}.w{j}": name for i, name in enumerate(names) for j in range(8)}
    (snapshot / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": SHARDS}, "weight_map": weight_map}))
    # transformers-5 forms in both files, so the cold case pays for the whole compat translation.
    (snapshot / "config.json").write_text(json.dumps({
        "model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}))
    (snapshot / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend", "model_max_length": 131072,
                                                                "extra_special_tokens": ["<|im_start|>", "<|im_end|>"]}))
    (snapshot / "tokenizer.json").write_text("{}")
    return snapshot


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_bundle(root)
        site = root / "site"
        for dist in ("sglang-0.5.9", "transformers-4.57.1"):
            (site / f"{dist}.dist-info").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "HF_", "FLOX_"))}
        env.update(FLOX_ENV=str(root / "flox-env"), FLOX_ENV_CACHE=str(root / "cache"), HF_HUB_CACHE=str(root / "hf"),
                   SGLANG_MODEL=MODEL, PYTHONPATH=str(site), SGLANG_PYTHON=sys.executable)
        py = sys.executable
        resolve = [str(BIN / "sglang-resolve-model")]
        counter = iter(range(10**6))
        cold_env = dict(env)

        def fresh_cache() -> None:
            cold_env["SGLANG_RUNTIME_CACHE"] = str(root / f"cold-{next(counter)}")

        # The warm case and serve read what this first resolve writes (env file, shadow).
        subprocess.run(resolve, env=env, check=True, capture_output=True)
        serve = [str(BIN / "sglang-serve"), "--dry-run"]
        newest = {**env, "SGLANG_VERSION": "0.5.23"}
        typo = {**newest, "SGLANG_EXTRA_ARGS": "--enable-mixed-chunks"}
        m = medians({
            "bare": ([py, "-c", "pass"], env, None),
            "base": ([py, "-c", "import click"], env, None),
            "serve": (serve, env, None),
            "serve-0.5.23": (serve, newest, None),
            "refuse": (serve, typo, None),
            "warm": (resolve, env, None),
            "cold": (resolve, cold_env, fresh_cache),
        }, runs, expect={"refuse": 2})
        bare, base, serve_t, newest_t, refuse, warm, cold = (
            m[k] for k in ("bare", "base", "serve", "serve-0.5.23", "refuse", "warm", "cold"))

    print(f"runs per median: {runs}")
    print(f"bare python            {bare * 1000:7.1f} ms")
    print(f"B = import click       {base * 1000:7.1f} ms   (B / bare python = {base / bare:.2f})")
    print(f"flag data load, in-process: 0.5.9 {flagdata_load_ms('0.5.9', runs):.2f} ms, "
          f"0.5.23 {flagdata_load_ms('0.5.23', runs):.2f} ms")
    rows = [("sglang-serve --dry-run (0.5.9 data)", serve_t, 1.5), ("sglang-serve --dry-run (0.5.23 data)", newest_t, 1.5),
            ("serve refusing an extra-arg typo (exit 2)", refuse, 2.0),
            ("resolve-model warm (200 shards)", warm, 2.0), ("resolve-model cold + compat (200 shards)", cold, 3.0)]
    failed = False
    for name, seconds, target in rows:
        ratio = seconds / base
        ok = ratio <= target
        failed |= not ok
        print(f"{name:40s} {seconds * 1000:7.1f} ms   {ratio:.2f} x B   (target <= {target} x B: {'ok' if ok else 'MISSED'})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
