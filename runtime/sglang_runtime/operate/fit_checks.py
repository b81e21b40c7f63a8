"""Will the model fit: its weight size, its context length, and the KV cache left beside it (model/fit.py estimates)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from ..model import fit
from ..util.checks import FAIL, OK, WARN, Check

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weight_bytes(snapshot: Path) -> tuple[int, str] | None:
    """(bytes, how we know): the weight index's total_size, else the sum of weight files on disk."""
    total, indexes = 0, []
    for index in sorted(snapshot.glob("*.index.json")):
        try:
            size = json.loads(index.read_text(encoding="utf-8"))["metadata"]["total_size"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
        if isinstance(size, int) and size > 0:
            total += size
            indexes.append(index.name)
    if indexes:
        return total, f"total_size in {', '.join(indexes)}"
    files = [p for p in snapshot.iterdir() if p.name.endswith(WEIGHT_SUFFIXES)]
    if not files:
        return None
    return sum(p.stat().st_size for p in files), f"{len(files)} weight file(s)"


def context_check(shape: fit.ModelShape, requested: int | None) -> Check:
    if shape.max_context is None:
        return Check("context", WARN, "config.json has no max_position_embeddings; SGLang decides the context length")
    if requested is None:
        return Check("context", OK, f"model maximum {shape.max_context} tokens (SGLANG_CONTEXT_LENGTH unset)")
    if requested > shape.max_context:
        return Check("context", FAIL, f"SGLANG_CONTEXT_LENGTH={requested} exceeds the model's maximum {shape.max_context}",
                     f"set SGLANG_CONTEXT_LENGTH <= {shape.max_context} (SGLang refuses longer unless "
                     "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1, and quality degrades)")
    return Check("context", OK, f"SGLANG_CONTEXT_LENGTH={requested} <= model maximum {shape.max_context}")


def _gib(x: float) -> str:
    return f"{x:.1f} GiB"


def fit_check(gpu_mem_mib: float, weights: int, shape: fit.ModelShape, tp: int, fraction: float | None,
              context: int | None, kv_dtype_bytes: int = 2, chunked_prefill_size: int | None = None,
              cuda_graph_max_bs: int | None = None) -> tuple[Check, fit.Fit]:
    est = fit.estimate(gpu_mem_mib, weights, shape, tp, fraction, kv_dtype_bytes, chunked_prefill_size, cuda_graph_max_bs)
    how = f"SGLang's automatic {est.fraction}" if est.fraction_is_auto else f"SGLANG_MEM_FRACTION_STATIC={est.fraction}"
    ctx = context or shape.max_context
    free = max(gpu_mem_mib - fit.RUNTIME_RESERVE_MIB, 1) * fit.MIB
    # The fraction that would hold the weights plus one full context of KV cache.
    needed = (est.weights_gib * fit.GIB + (ctx or 0) * est.bytes_per_token) / free
    head = f"weights {_gib(est.weights_gib)}/GPU (TP {tp}) vs {_gib(est.budget_gib)} at {how} of {gpu_mem_mib:.0f} MiB"
    if not est.weights_fit:
        # Smallest fraction leaving room for a modest 16k-token pool; above ~0.95 activations no longer fit.
        least = math.ceil((est.weights_gib * fit.GIB + 16384 * est.bytes_per_token) / free * 100) / 100
        fix = (f"SGLANG_MEM_FRACTION_STATIC >= {least:.2f} (higher leaves more KV cache), with "
               "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True; or more GPUs (SGLANG_TP_SIZE)"
               if least <= 0.95 else "more GPUs (SGLANG_TP_SIZE) or a smaller / more quantized model")
        return Check("fit", FAIL, f"{head}: no room for the KV cache ({_gib(est.kv_gib)})", fix), est
    pool = f"KV pool ~{est.kv_tokens:,} tokens ({_gib(est.kv_gib)})"
    if ctx and est.kv_tokens < ctx:
        fix = (f"SGLANG_MEM_FRACTION_STATIC={needed:.2f} would hold one full context" if needed < 0.95
               else "more GPUs (SGLANG_TP_SIZE), a shorter SGLANG_CONTEXT_LENGTH or an fp8 KV cache (--kv-cache-dtype fp8_e4m3)")
        return Check("fit", WARN, f"{head}; {pool} is less than one full context ({ctx:,})", fix), est
    return Check("fit", OK, f"{head}; {pool}" + (f" = {est.kv_tokens / ctx:.1f} full contexts" if ctx else "")), est


def kv_dtype_bytes(extra_args: Sequence[str], dtype: str | None) -> int:
    for i, arg in enumerate(extra_args):
        value = None
        if arg == "--kv-cache-dtype" and i + 1 < len(extra_args):
            value = extra_args[i + 1]
        elif arg.startswith("--kv-cache-dtype="):
            value = arg.split("=", 1)[1]
        if value and value != "auto":
            return fit.DTYPE_BYTES.get(value, 1 if "fp8" in value or "fp4" in value else 2)
    return 4 if dtype in ("float32", "float") else 2
