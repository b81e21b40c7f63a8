"""Shared fixtures: real model folders on disk and the real CLI run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterable

import pytest

# Orders the tests over the SGLang release matrix so that each release's worker starts once.
pytest_plugins = ["sglang_matrix"]

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Variables from the developer's shell that would leak into CLI runs.
_DROP_PREFIXES = ("SGLANG_", "HF_", "FLOX_", "CUDA_VISIBLE_DEVICES", "PYTHONPATH")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run_cli(command: str, *args: str, env: dict[str, str], check_rc: int | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / command), *args], env=env, capture_output=True, text=True, timeout=60)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


def write_model(directory: Path, *, shards: int = 1, config: dict | None = None, index: bool | None = None,
                tokenizer_class: str | None = None) -> Path:
    """A model folder as HF stores it: config.json and weights (sharded with an index when shards > 1)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config or {"num_attention_heads": 32, "num_key_value_heads": 8}))
    use_index = shards > 1 if index is None else index
    names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)] if use_index else ["model.safetensors"]
    for name in names:
        (directory / name).write_bytes(b"\0" * 8)
    if use_index:
        weight_map = {f"layer.{i}.weight": name for i, name in enumerate(names)}
        (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 8 * shards}, "weight_map": weight_map}))
    if tokenizer_class:
        (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class, "model_max_length": 4096}))
    return directory


def write_cached_repo(hub: Path, repo_id: str, *, revision: str = "main", commit: str = "a" * 40,
                      write_ref: bool = True, **model_kwargs) -> Path:
    """HF-cache layout: hub/models--org--name/{refs/<revision>, snapshots/<commit>/...}."""
    repo_dir = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = write_model(repo_dir / "snapshots" / commit, **model_kwargs)
    if write_ref:
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / revision).write_text(commit)
    return snapshot


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture
def flox(tmp_path: Path) -> dict[str, Path]:
    """A FLOX_ENV with an empty bundle dir and a FLOX_ENV_CACHE — what activation provides."""
    env_dir = tmp_path / "flox-env"
    (env_dir / "share" / "models" / "hub").mkdir(parents=True)
    cache = tmp_path / "flox-cache"
    cache.mkdir()
    return {"env": env_dir, "hub": env_dir / "share" / "models" / "hub", "cache": cache, "hf": tmp_path / "hf-cache"}


def flox_env(flox: dict[str, Path], **extra: str) -> dict[str, str]:
    base = {"FLOX_ENV": str(flox["env"]), "FLOX_ENV_CACHE": str(flox["cache"]), "HF_HUB_CACHE": str(flox["hf"]),
            "SGLANG_VERSION": "0.5.9"}
    return clean_env(**{**base, **extra})


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def no_notice(lines_: Iterable[str]) -> list[str]:
    return [line for line in lines_ if not line.startswith("notice:")]


# ---------------------------------------------------------------- the real-server tier (tests/e2e)
# Its helpers live in tests/e2e/serving.py; the fixtures are here so that each is built once per run.
sys.path.insert(0, str(Path(__file__).with_name("e2e")))

MEASURED: dict[str, dict] = {}


@pytest.fixture(scope="session")
def measured() -> dict[str, dict]:
    """Timings the tier records (ready, SIGTERM, crash-to-exit), printed at the end of the run."""
    return MEASURED


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("real-server tier: measured")
        for name, values in MEASURED.items():
            terminalreporter.write_line(f"{name}: {json.dumps(values, sort_keys=True)}")


@pytest.fixture(scope="session")
def reference() -> dict:
    """Answers of the first release served (0.5.23), which the next (0.5.9) must reproduce."""
    return {}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama saved by transformers 5 (SGLang 0.5.23's pin): TokenizersBackend,
    extra special tokens as a list, RoPE base 500000 inside rope_parameters."""
    out = tmp_path_factory.mktemp("tiny-model") / "snapshot"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "PYTHONPATH", "HF_"))}
    from serving import pythonpath

    env.update(PYTHONPATH=pythonpath("0.5.23"), HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "e2e" / "make_tiny_model.py"), str(out)],
                          env=env, capture_output=True, text=True, timeout=600, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def smol_bundles() -> dict[str, Path]:
    """SmolLM2-135M-Instruct as Flox bundles (FLOX_ENV roots): converted by transformers 4.57 ("v4"),
    and the same weights re-saved by transformers 5 ("v5"). Built once, cached in .cache/models."""
    roots = {"v4": REPO / ".cache" / "models" / "smollm2", "v5": REPO / ".cache" / "models" / "smollm2-v5"}
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build-smollm2-bundle.py"), "--out", str(roots["v4"]),
                           "--v5-out", str(roots["v5"])], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return roots
