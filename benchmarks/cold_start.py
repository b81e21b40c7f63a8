#!/usr/bin/env python3
"""Cold starts of a real SGLang CPU server with a 2.5 GB model: the launcher's prefetch vs SGLang's own, in one run.

    flock /tmp/e2e.lock is taken by the script itself (no other server may run meanwhile)
    .venv/bin/python benchmarks/cold_start.py [--runs 3] [--arms direct,launcher,...]

Needs what `bash scripts/test.sh` installs (.venv, .cache/sglang-*, .cache/serve-*). The one stand-in is
cpu/standin/sgl_kernel (PyPI has no CPU build of sgl_kernel). The model, a random-weight Llama (28 layers,
hidden 2048, bfloat16, 3 shards), is made offline once with the 0.5.23 serving folder's transformers and
kept under .cache/models/cold-start-llama (never committed).

Every start of a release shares one compile-cache root (SGLANG_RUNTIME_CACHE; the direct arms get the
launcher's cache variables too), filled by one untimed priming start per release, so that only the weights'
page cache differs between arms.

Before every cold start each weight file is evicted from the page cache (fsync + posix_fadvise DONTNEED,
../shared/notes/page-cache.md); Python's own files stay cached, as after a model switch. Arms alternate
(run i of every arm, then run i+1). For each start: seconds from process start to SGLang's "Load weight
end" line and to /health_generate 200 (the log is polled every 0.05 s). Arms:

  direct          python -m sglang.launch_server with the launcher's argv (serial load)
  direct+flag     the same + --weight-loader-prefetch-checkpoints (SGLang's own prefetch, 0.5.11+)
  launcher        the Flox service command, SGLANG_PREFETCH_WEIGHTS=auto (the launcher's prefetch)
  both            the launcher's prefetch + SGLANG_WEIGHT_LOADER_PREFETCH=1
  oversized       the launcher, told only 1 byte of memory is free (_SGLANG_RUNTIME_MEMORY_AVAILABLE): the skip path
  direct-warm     direct, weights already in the page cache
  launcher-warm   the launcher's prefetch, weights already in the page cache
  0.5.9-direct    SGLang 0.5.9 direct (no prefetch of its own)
  0.5.9-launcher  SGLang 0.5.9 through the launcher's prefetch
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
from real_server import stop  # noqa: E402
from serving import bundle, free_port, pythonpath, server_env, start_server  # noqa: E402
from page_cache import evict  # noqa: E402

MODEL_ID = "bench-org/cold-start-llama"
MODEL_DIR = ROOT / ".cache" / "models" / "cold-start-llama"
ARMS = ("direct", "launcher", "direct+flag", "both", "0.5.9-direct", "0.5.9-launcher", "oversized", "direct-warm",
        "launcher-warm")
SHAPE = {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 28, "num_attention_heads": 16, "head_dim": 128,
         "num_key_value_heads": 4}
MAKE = """
import json, sys, torch
from pathlib import Path
from transformers import LlamaConfig, LlamaForCausalLM
out = Path(sys.argv[1])
config = LlamaConfig(**{**json.loads((out / "config.json").read_text()), **json.loads(sys.argv[2])})
(out / "model.safetensors").unlink()
torch.manual_seed(0)
torch.set_default_dtype(torch.bfloat16)
model = LlamaForCausalLM(config)
model.save_pretrained(out, safe_serialization=True, max_shard_size="1GB")
"""


def make_model() -> Path:
    """The 2.5 GB random Llama as a Flox bundle (made once; its files fsynced, so they can be evicted)."""
    done = MODEL_DIR / ".complete"
    if not done.is_file():
        tmp = MODEL_DIR.with_name(MODEL_DIR.name + ".tmp")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        env = {**os.environ, "PYTHONPATH": pythonpath("0.5.23")}
        snapshot = tmp / "snapshot"
        subprocess.run([sys.executable, str(ROOT / "tests" / "e2e" / "make_tiny_model.py"), str(snapshot)], check=True,
                       capture_output=True, env=env)
        subprocess.run([sys.executable, "-c", MAKE, str(snapshot), json.dumps(SHAPE)], check=True, env=env)
        bundle(tmp / "flox-env", MODEL_ID, snapshot)
        subprocess.run(["rm", "-rf", str(snapshot)], check=True)
        subprocess.run(["sync"], check=True)
        tmp.rename(MODEL_DIR)
        done.write_text("ok\n")
    return MODEL_DIR / "flox-env"


def weight_files(flox_env: Path) -> list[Path]:
    return sorted(p.resolve() for p in flox_env.rglob("*.safetensors"))


def warm(files: list[Path]) -> None:
    for path in files:
        with open(path, "rb", buffering=0) as fh:
            while fh.read(16 << 20):
                pass


def start(arm: str, flox_env: Path, home: Path, port: int) -> tuple[subprocess.Popen, float, Path]:
    version = "0.5.9" if arm.startswith("0.5.9") else "0.5.23"
    extra = {}
    if arm == "both":
        extra["SGLANG_WEIGHT_LOADER_PREFETCH"] = "1"
    if arm == "oversized":
        extra["_SGLANG_RUNTIME_MEMORY_AVAILABLE"] = "1"
    # One compile-cache root per release for every arm and start (as on a real host, where it persists): a
    # fresh one per launcher start made its warm-up compile from scratch while `direct` used /tmp's warm one.
    extra["SGLANG_RUNTIME_CACHE"] = str(home.parent / f"compile-caches-{version}")
    env = server_env(version, home, flox_env, MODEL_ID, port, **extra)
    log = home / "server.log"
    out = log.open("wb")
    extra_args = ("--weight-loader-prefetch-checkpoints",) if arm == "direct+flag" else ()
    proc, began = start_server(env, out, "direct" in arm, extra_args)
    out.close()
    return proc, began, log


def watch(proc: subprocess.Popen, began: float, log: Path, port: int, timeout: float = 300) -> dict:
    """Seconds from start to the first 'Load weight end' line and to /health_generate 200."""
    import httpx2

    seen: dict[str, float] = {}
    url = f"http://127.0.0.1:{port}/health_generate"
    deadline = began + timeout
    next_probe = 0.0
    while time.monotonic() < deadline and proc.poll() is None:
        now = time.monotonic()
        text = log.read_text(errors="replace")
        for key, marker in (("load_begin", "Load weight begin"), ("load_end", "Load weight end"),
                            ("prefetch_done", "sglang-runtime prefetch:")):
            if key not in seen and marker in text:
                seen[key] = now - began
        if "load_end" in seen and now >= next_probe:
            next_probe = now + 0.1
            try:
                if httpx2.get(url, timeout=30).status_code == 200:
                    seen["ready"] = time.monotonic() - began
                    break
            except httpx2.HTTPError:
                pass
        time.sleep(0.05)
    match = re.search(r"sglang-runtime prefetch: .*? ([\d.]+) GB read, ([\d.]+) GB already cached, in ([\d.]+) s",
                      log.read_text(errors="replace"))
    if match:
        seen["prefetch_read_gb"], seen["prefetch_cached_gb"], seen["prefetch_s"] = map(float, match.groups())
    seen["skip_notice"] = "prefetch: skipped:" in log.read_text(errors="replace")
    return seen


def run_arm(arm: str, flox_env: Path, files: list[Path], work: Path, i: int) -> dict:
    home = work / f"{arm}-{i}"
    home.mkdir(parents=True)
    if arm.endswith("-warm"):
        warm(files)
    else:
        for path in files:
            evict(path)
    port = free_port()
    proc, began, log = start(arm, flox_env, home, port)
    try:
        seen = watch(proc, began, log, port)
    finally:
        stop(proc)
    if "ready" not in seen or "load_end" not in seen:
        sys.exit(f"{arm} run {i + 1}: not ready; see {log}")
    return seen


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):5.1f} s [{min(values):.1f}-{max(values):.1f}]"


def report(results: dict[str, list[dict]], size: int) -> None:
    runs = min(len(rs) for rs in results.values())
    print(f"cold start, {size / 1e9:.2f} GB random Llama, CPU; median [min-max] of {runs} starts, seconds from process start:")
    med = {arm: {k: statistics.median(r[k] for r in rs) for k in ("load_end", "ready")} for arm, rs in results.items() if rs}
    for arm, rs in results.items():
        if not rs:
            continue
        load = [r["load_end"] - r["load_begin"] for r in rs if "load_begin" in r]
        print(f"  {arm:15s} load end {summary([r['load_end'] for r in rs])}  ready {summary([r['ready'] for r in rs])}"
              f"  (load begin->end {statistics.median(load):.1f} s)" + ("  skip notice" if rs[0]["skip_notice"] else ""))
    for a, b in (("launcher", "direct"), ("launcher", "direct+flag"), ("both", "direct+flag"), ("both", "direct"),
                 ("direct+flag", "direct"), ("oversized", "direct"), ("launcher-warm", "direct-warm"),
                 ("0.5.9-launcher", "0.5.9-direct")):
        if a in med and b in med:
            print(f"  {a} / {b}: load end {med[a]['load_end'] / med[b]['load_end']:.3f}, "
                  f"ready {med[a]['ready'] / med[b]['ready']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--json", type=Path, help="Also write every start's numbers here.")
    parser.add_argument("--report", type=Path, help="Only print the summary of a run saved with --json.")
    args = parser.parse_args()
    if args.report:
        report(json.loads(args.report.read_text()), sum(p.stat().st_size for p in weight_files(MODEL_DIR / "flox-env")))
        return
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        sys.exit(f"--arms: unknown {', '.join(unknown)}; known: {', '.join(ARMS)}")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    lock = open("/tmp/e2e.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one SGLang server at a time on this machine, for the whole run
    flox_env = make_model()
    files = weight_files(flox_env)
    size = sum(p.stat().st_size for p in files)
    print(f"model: {len(files)} weight files, {size / 1e9:.2f} GB ({MODEL_DIR})", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-cold-start."))
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    for version in sorted({"0.5.9" if a.startswith("0.5.9") else "0.5.23" for a in arms}):
        # Untimed: fills the release's compile caches, so that no timed start pays for compiling.
        seen = run_arm("0.5.9-launcher" if version == "0.5.9" else "launcher", flox_env, files, work, -1)
        print(f"  (priming start {version}: ready {seen['ready']:5.1f} s)", file=sys.stderr, flush=True)
    for i in range(args.runs):
        for arm in arms:  # alternate, so load drifts hit every arm alike
            seen = run_arm(arm, flox_env, files, work, i)
            results[arm].append(seen)
            if args.json:  # after every start: an interrupted run keeps what it measured
                args.json.write_text(json.dumps(results, indent=1))
            extra = f", prefetch {seen['prefetch_s']:.1f} s ({seen['prefetch_read_gb']:.2f} GB read)" if "prefetch_s" in seen else ""
            print(f"  {arm:15s} run {i + 1}: load end {seen['load_end']:5.1f} s, ready {seen['ready']:5.1f} s{extra}",
                  file=sys.stderr, flush=True)
    report(results, size)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"(work files in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
