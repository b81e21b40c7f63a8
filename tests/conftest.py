"""Shared fixtures: real model folders on disk and the real CLI run as a subprocess.

The real-server tier's fixtures (tiny_model, smol_bundles, the servers, measured, reference) are in
tests/e2e/conftest.py; the stand-in HTTP servers in tests/standin_http.py.
"""

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
