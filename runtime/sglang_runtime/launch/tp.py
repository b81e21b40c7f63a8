"""Tensor-parallel size: `auto` from the visible GPUs, and the check that TP divides the heads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

from ..util.errors import ConfigError, PreflightError

SETTING = "SGLANG_TP_SIZE"
_NESTED = ("text_config", "llm_config", "language_config")


def heads(config: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(num_attention_heads, num_key_value_heads) from a config.json, looking into text_config for multimodal models."""
    for scope in (config, *(config.get(k) for k in _NESTED)):
        if isinstance(scope, Mapping) and isinstance(scope.get("num_attention_heads"), int):
            kv = scope.get("num_key_value_heads")
            return scope["num_attention_heads"], kv if isinstance(kv, int) else None
    return None, None


def divides(tp: int, attention: int | None, kv: int | None) -> bool:
    """SGLang's rule (models/llama.py and kin): TP divides the attention heads; KV heads are split when
    there are at least TP of them, else replicated, which needs TP to be a multiple of them
    (Llama-3.1-405B: 8 KV heads on TP 16)."""
    if attention is not None and attention % tp:
        return False
    return kv is None or (kv % tp == 0 if kv >= tp else tp % kv == 0)


def auto(gpus: int, attention: int | None, kv: int | None) -> int:
    """The largest count <= gpus that divides the heads."""
    return next(t for t in range(gpus, 0, -1) if divides(t, attention, kv))


def check(tp: int, attention: int | None, kv: int | None) -> None:
    if not divides(tp, attention, kv):
        parts = [f"num_attention_heads={attention}"] + ([f"num_key_value_heads={kv}"] if kv is not None else [])
        raise ConfigError(SETTING, str(tp), f"a size that divides the model's {' and '.join(parts)}"
                          + (" (or a multiple of the KV heads when there are fewer)" if kv is not None else ""))


def count_from_visible_devices(value: str) -> int:
    """CUDA_VISIBLE_DEVICES semantics: entries up to the first invalid one ('-1' hides all)."""
    count = 0
    for item in value.split(","):
        item = item.strip()
        if not item or item.startswith("-"):
            break
        count += 1
    return count


def visible_gpus(env: Mapping[str, str], run: Callable[..., Any] | None = None) -> int:
    if "CUDA_VISIBLE_DEVICES" in env:
        return count_from_visible_devices(env["CUDA_VISIBLE_DEVICES"])
    import subprocess  # only here: its import alone costs more than the rest of a dry run

    run = run or subprocess.run
    try:
        out = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if out.returncode != 0:
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def model_config(model_dir: Path | None) -> Mapping[str, Any] | None:
    if model_dir is None:
        return None
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def resolve(requested: int | str, config: Mapping[str, Any] | None, env: Mapping[str, str],
            run: Callable[..., Any] | None = None) -> int:
    attention, kv = heads(config) if config else (None, None)
    if requested == "auto":
        gpus = visible_gpus(env, run)
        if gpus < 1:
            raise PreflightError(f"{SETTING}=auto: no GPU is visible (CUDA_VISIBLE_DEVICES or nvidia-smi -L); set {SETTING} to a number")
        return auto(gpus, attention, kv)
    check(int(requested), attention, kv)
    return int(requested)
