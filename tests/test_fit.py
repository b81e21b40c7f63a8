"""The memory-fit estimate against SGLang's published points for gpt-oss on one H100 80 GB
(shared/notes/sglang-facts.md), using the models' real config.json and index total_size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sglang_runtime.operate import doctor
from sglang_runtime.model import fit

MODELS = Path(__file__).parent / "fixtures" / "models"
H100_MIB = 81559  # nvidia-smi memory.total of an H100 80GB HBM3 (tests/fixtures/nvidia-smi/h100.csv)


def shape(name: str) -> fit.ModelShape:
    return fit.model_shape(json.loads((MODELS / name / "config.json").read_text()))


def total_size(name: str) -> int:
    return json.loads((MODELS / name / "model.safetensors.index.json").read_text())["metadata"]["total_size"]


def test_auto_fraction_follows_sglang_0_5_12_tiers():
    # H100: chunk 8192, cuda-graph bs 256 -> reserved 512+12288+512+128+58*8 = 13904 MiB.
    assert fit.auto_mem_fraction(H100_MIB) == round((H100_MIB - 13904) / H100_MIB, 3) == 0.83
    # T4 (< 20 GiB): chunk 2048, bs 8; the 10 GiB floor does not apply below 60 GiB.
    t4_reserved = 512 + 2048 * 1.5 + 8 * 2 + 128 + len(fit.piecewise_cuda_graph_tokens(2048)) * 8
    assert fit.auto_mem_fraction(15360) == round((15360 - t4_reserved) / 15360, 3)
    assert fit.auto_mem_fraction(None) == 0.88
    # TP 4 on 80 GB: bigger CUDA-graph batch (512) and the per-rank term grow the reserve.
    assert fit.auto_mem_fraction(81920, tp_size=4) < fit.auto_mem_fraction(81920, tp_size=1)


def test_gpt_oss_config_shapes():
    s20, s120 = shape("gpt-oss-20b"), shape("gpt-oss-120b")
    assert (s20.layers, s20.kv_heads, s20.head_dim, s20.sliding_layers) == (24, 8, 64, 12)
    assert (s120.layers, s120.attention_heads, s120.full_layers) == (36, 64, 18)
    assert s20.hybrid_swa and s20.quant_method == "mxfp4" and s20.max_context == 131072
    # Hybrid SWA pool: full layers at full cost, sliding layers at swa_full_tokens_ratio 0.8.
    assert fit.kv_bytes_per_token(s20, 1) == 8 * 128 * 2 * (12 + 0.8 * 12)


def test_non_hybrid_architecture_pays_for_every_layer():
    cfg = json.loads((MODELS / "gpt-oss-20b" / "config.json").read_text())
    cfg["architectures"] = ["LlamaForCausalLM"]
    assert fit.kv_bytes_per_token(fit.model_shape(cfg), 1) == 8 * 128 * 2 * 24
    assert fit.kv_bytes_per_token(fit.model_shape(cfg), 2) == 4 * 128 * 2 * 24


def test_gpt_oss_20b_on_one_h100_lands_near_the_published_1_2m_tokens():
    est = fit.estimate(H100_MIB, total_size("gpt-oss-20b"), shape("gpt-oss-20b"))
    assert est.weights_fit
    assert abs(est.kv_tokens - 1_200_000) / 1_200_000 < 0.10, est.kv_tokens


def test_gpt_oss_120b_has_no_kv_room_at_the_automatic_fraction():
    est = fit.estimate(H100_MIB, total_size("gpt-oss-120b"), shape("gpt-oss-120b"))
    assert est.fraction_is_auto and est.fraction == 0.83
    assert not est.weights_fit and est.kv_tokens == 0 and est.kv_gib < 0


def test_gpt_oss_120b_at_0_93_lands_near_the_published_89k_tokens():
    est = fit.estimate(H100_MIB, total_size("gpt-oss-120b"), shape("gpt-oss-120b"), fraction=0.93)
    assert est.weights_fit
    assert abs(est.kv_tokens - 89_000) / 89_000 < 0.20, est.kv_tokens


def test_doctor_verdicts_match_the_published_points():
    s120, w120 = shape("gpt-oss-120b"), total_size("gpt-oss-120b")
    auto, _ = doctor.fit_check(H100_MIB, w120, s120, 1, None, None)
    assert auto.status == doctor.FAIL and "no room for the KV cache" in auto.message
    least = float(auto.fix.split(">= ")[1].split(" ")[0])
    assert 0.83 < least <= 0.93  # the published run's 0.93 satisfies the advice
    manual, est = doctor.fit_check(H100_MIB, w120, s120, 1, 0.93, None)
    assert manual.status == doctor.WARN and "less than one full context (131,072)" in manual.message
    small, _ = doctor.fit_check(H100_MIB, total_size("gpt-oss-20b"), shape("gpt-oss-20b"), 1, None, None)
    assert small.status == doctor.OK and "full contexts" in small.message


def test_tensor_parallel_splits_weights_and_heads():
    s120, w120 = shape("gpt-oss-120b"), total_size("gpt-oss-120b")
    one = fit.estimate(H100_MIB, w120, s120, tp=1)
    two = fit.estimate(H100_MIB, w120, s120, tp=2)
    assert two.weights_gib == pytest.approx(one.weights_gib / 2)
    assert two.bytes_per_token == one.bytes_per_token / 2
    assert two.weights_fit and two.kv_tokens > 1_000_000


def test_fp8_kv_cache_doubles_capacity_and_is_read_from_extra_args():
    assert doctor.kv_dtype_bytes(["--kv-cache-dtype", "fp8_e4m3"], None) == 1
    assert doctor.kv_dtype_bytes(["--kv-cache-dtype=auto"], "float32") == 4
    assert doctor.kv_dtype_bytes([], None) == 2
    s20, w20 = shape("gpt-oss-20b"), total_size("gpt-oss-20b")
    bf16 = fit.estimate(H100_MIB, w20, s20, kv_dtype_bytes=2)
    fp8 = fit.estimate(H100_MIB, w20, s20, kv_dtype_bytes=1)
    assert fp8.kv_tokens == pytest.approx(2 * bf16.kv_tokens, rel=1e-6)


@pytest.mark.parametrize("field,value", [("num_hidden_layers", 0), ("num_attention_heads", None), ("num_key_value_heads", "8")])
def test_bad_config_fields_are_named(field, value):
    cfg = json.loads((MODELS / "gpt-oss-20b" / "config.json").read_text())
    cfg[field] = value
    with pytest.raises(ValueError, match=field):
        fit.model_shape(cfg)
