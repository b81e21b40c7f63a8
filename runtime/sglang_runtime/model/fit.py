"""Will the model fit, and how many tokens of KV cache will SGLang get? Pure arithmetic on numbers.

The rules are SGLang's own, read from the sglang 0.5.12 wheel:

* `ServerArgs._handle_gpu_memory_settings` (sglang/srt/server_args.py) picks
  chunked_prefill_size and cuda_graph_max_bs from the GPU's memory tier and then,
  when --mem-fraction-static is unset, sets
      reserved = 512 + max(chunked_prefill_size, 2048) * 1.5 + cuda_graph_max_bs * 2
                 + tp_size * pp_size / 8 * 1024 + len(piecewise_cuda_graph_tokens) * 8   [MiB]
      reserved = max(reserved, 10 * 1024) if gpu_mem > 60 GiB
      mem_fraction_static = round((gpu_mem - reserved) / gpu_mem, 3)      (0.88 if gpu_mem unknown)
  where gpu_mem is the smallest `memory.total` nvidia-smi reports, in MiB.
* `ModelRunnerKVCacheMixin._profile_available_bytes`
  (sglang/srt/model_executor/model_runner_kv_cache_mixin.py):
      kv_pool = free_after_weights - free_before_weights * (1 - mem_fraction_static)
              = free_before_weights * mem_fraction_static - weights_in_vram
  A negative pool is SGLang's "Not enough memory" start-up failure.
* `pool_configurator.py`: bytes per token = kv_heads_per_rank * (head_dim + v_head_dim)
  * dtype_bytes per layer; hybrid sliding-window models (GptOss, Llama4, Gemma4, ...:
  `is_hybrid_swa_model` in configs/model_config.py) count sliding layers at
  `swa_full_tokens_ratio` (default 0.8) and report the full-attention token count.

Two numbers are not in SGLang's source and are our assumptions, both stated in
docs/operating.md ("The fit estimate"): the memory CUDA, NCCL and the driver take before SGLang
measures (RUNTIME_RESERVE_MIB) and how much larger MXFP4 weights are in VRAM than
on disk (MXFP4_LOAD_FACTOR, from published load logs of gpt-oss-120b on H100).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

MIB = 1 << 20
GIB = 1 << 30

# CUDA context, NCCL and cuBLAS workspaces, and what the driver keeps back from
# nvidia-smi's memory.total, before SGLang takes its "free before weights" reading.
RUNTIME_RESERVE_MIB = 1024

# gpt-oss-120b: 60.8 GiB of safetensors; SGLang 0.5.12 on H100 reports ~67 GiB
# after loading, vLLM 64.4-66.0 GiB (swizzled MXFP4 layouts, fp32 biases, padding).
MXFP4_LOAD_FACTOR = 1.10

SWA_FULL_TOKENS_RATIO = 0.8  # ServerArgs.swa_full_tokens_ratio default (0.5.12)

HYBRID_SWA_ARCHS = frozenset({
    "GptOssForCausalLM", "Llama4ForConditionalGeneration", "Gemma4ForCausalLM",
    "Gemma4ForConditionalGeneration", "Step3p5ForCausalLM", "LagunaForCausalLM",
})

DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2, "fp8": 1,
               "fp8_e4m3": 1, "fp8_e5m2": 1, "float8_e4m3fn": 1}


def _tier(gpu_mem_mib: float, tp_size: int) -> tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) SGLang 0.5.12 picks for this much memory."""
    small_tp = tp_size < 4
    if gpu_mem_mib < 20 * 1024:
        return 2048, 8
    if gpu_mem_mib < 35 * 1024:
        return 2048, 24 if small_tp else 80
    if gpu_mem_mib < 60 * 1024:
        return 4096, 32 if small_tp else 160
    if gpu_mem_mib < 160 * 1024:
        return 8192, 256 if small_tp else 512
    return 16384, 512


def piecewise_cuda_graph_tokens(max_tokens: int) -> list[int]:
    """ServerArgs._generate_piecewise_cuda_graph_tokens (0.5.12)."""
    sizes = (list(range(4, 33, 4)) + list(range(48, 257, 16)) + list(range(288, 513, 32))
             + list(range(576, 1025, 64)) + list(range(1280, 4097, 256))
             + list(range(4608, max_tokens + 1, 512)))
    return [s for s in sizes if s <= max_tokens]


def auto_mem_fraction(gpu_mem_mib: float | None, tp_size: int = 1, chunked_prefill_size: int | None = None,
                      cuda_graph_max_bs: int | None = None, piecewise_cuda_graph: bool = True) -> float:
    """SGLang 0.5.12's --mem-fraction-static default (no DP attention, no speculative decoding)."""
    if gpu_mem_mib is None:
        return 0.88
    tier_chunk, tier_bs = _tier(gpu_mem_mib, tp_size)
    chunk = tier_chunk if chunked_prefill_size is None else chunked_prefill_size
    bs = tier_bs if cuda_graph_max_bs is None else cuda_graph_max_bs
    reserved = 512.0
    reserved += max(chunk if chunk > 0 else 16384, 2048) * 1.5  # 16384: max_prefill_tokens default
    reserved += bs * 2
    reserved += tp_size * 1 / 8 * 1024
    if piecewise_cuda_graph:
        reserved += len(piecewise_cuda_graph_tokens(chunk)) * 8
    if gpu_mem_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)


@dataclass(frozen=True)
class ModelShape:
    architectures: tuple[str, ...]
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    full_layers: int
    sliding_layers: int
    max_context: int | None
    quant_method: str | None
    dtype: str | None

    @property
    def hybrid_swa(self) -> bool:
        return self.sliding_layers > 0 and any(a in HYBRID_SWA_ARCHS for a in self.architectures)


def _positive_int(cfg: Mapping[str, Any], key: str) -> int:
    value = cfg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"config.json: {key} is {value!r}, expected a positive integer")
    return value


def model_shape(config: Mapping[str, Any]) -> ModelShape:
    """The numbers sizing needs, from a parsed config.json. Raises ValueError naming the bad field."""
    text = config.get("text_config") if isinstance(config.get("text_config"), Mapping) else config
    layers = _positive_int(text, "num_hidden_layers")
    heads = _positive_int(text, "num_attention_heads")
    kv_heads = text.get("num_key_value_heads", heads)
    if not isinstance(kv_heads, int) or kv_heads <= 0:
        raise ValueError(f"config.json: num_key_value_heads is {kv_heads!r}, expected a positive integer")
    head_dim = text.get("head_dim")
    if head_dim is None:
        head_dim = _positive_int(text, "hidden_size") // heads
    elif not isinstance(head_dim, int) or head_dim <= 0:
        raise ValueError(f"config.json: head_dim is {head_dim!r}, expected a positive integer")
    layer_types = text.get("layer_types") or []
    sliding = sum(1 for t in layer_types if t == "sliding_attention")
    if layer_types and len(layer_types) != layers:
        raise ValueError(f"config.json: layer_types has {len(layer_types)} entries for {layers} layers")
    ctx = text.get("max_position_embeddings")
    quant = config.get("quantization_config") or text.get("quantization_config") or {}
    dtype = text.get("torch_dtype") or text.get("dtype") or config.get("torch_dtype")
    return ModelShape(
        architectures=tuple(config.get("architectures") or ()),
        layers=layers, attention_heads=heads, kv_heads=kv_heads, head_dim=head_dim,
        full_layers=layers - sliding, sliding_layers=sliding,
        max_context=ctx if isinstance(ctx, int) and ctx > 0 else None,
        quant_method=quant.get("quant_method") if isinstance(quant, Mapping) else None,
        dtype=dtype if isinstance(dtype, str) else None,
    )


def kv_bytes_per_token(shape: ModelShape, tp: int, kv_dtype_bytes: int = 2,
                       swa_ratio: float = SWA_FULL_TOKENS_RATIO) -> float:
    """Bytes of KV cache one token costs on one GPU (the unit of SGLang's max_total_num_tokens)."""
    per_layer = max(1, shape.kv_heads // tp) * (shape.head_dim * 2) * kv_dtype_bytes
    if shape.hybrid_swa:
        return per_layer * shape.full_layers + swa_ratio * per_layer * shape.sliding_layers
    return float(per_layer * shape.layers)


@dataclass(frozen=True)
class Fit:
    gpu_mem_mib: float
    fraction: float
    fraction_is_auto: bool
    budget_gib: float          # what SGLang lets weights + KV use on one GPU
    weights_gib: float         # weights in VRAM on one GPU
    kv_gib: float              # may be negative: the pool SGLang would compute
    bytes_per_token: float
    kv_tokens: int             # 0 when the pool is negative

    @property
    def weights_fit(self) -> bool:
        return self.kv_gib > 0


def weights_in_vram(weight_bytes: int, tp: int, quant_method: str | None) -> float:
    factor = MXFP4_LOAD_FACTOR if quant_method == "mxfp4" else 1.0
    return weight_bytes * factor / tp


def estimate(gpu_mem_mib: float, weight_bytes: int, shape: ModelShape, tp: int = 1,
             fraction: float | None = None, kv_dtype_bytes: int = 2,
             chunked_prefill_size: int | None = None, cuda_graph_max_bs: int | None = None) -> Fit:
    auto = fraction is None
    frac = auto_mem_fraction(gpu_mem_mib, tp, chunked_prefill_size, cuda_graph_max_bs) if auto else fraction
    free_before = max(gpu_mem_mib - RUNTIME_RESERVE_MIB, 0) * MIB
    budget = free_before * frac
    weights = weights_in_vram(weight_bytes, tp, shape.quant_method)
    kv = budget - weights
    per_token = kv_bytes_per_token(shape, tp, kv_dtype_bytes)
    tokens = int(kv // per_token) if kv > 0 else 0
    return Fit(gpu_mem_mib, frac, auto, budget / GIB, weights / GIB, kv / GIB, per_token, tokens)
