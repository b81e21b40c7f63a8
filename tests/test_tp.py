"""Tensor-parallel size: auto from visible GPUs, and divisibility against real model configs."""

from __future__ import annotations

import subprocess

import pytest

from sglang_runtime.launch import tp
from sglang_runtime.util.errors import ConfigError, PreflightError

# Real values from the models' config.json files.
PHI4_MINI = {"num_attention_heads": 24, "num_key_value_heads": 8}
GPT_OSS_120B = {"num_attention_heads": 64, "num_key_value_heads": 8}
GEMMA3_MM = {"text_config": {"num_attention_heads": 8, "num_key_value_heads": 4}}


@pytest.mark.parametrize("gpus,config,expected", [(8, GPT_OSS_120B, 8), (6, GPT_OSS_120B, 4), (3, PHI4_MINI, 2),
                                                  (8, PHI4_MINI, 8), (1, PHI4_MINI, 1), (5, GEMMA3_MM, 4)])
def test_auto(gpus, config, expected):
    assert tp.auto(gpus, *tp.heads(config)) == expected


def test_explicit_size_must_divide_and_names_both_numbers():
    with pytest.raises(ConfigError, match=r"SGLANG_TP_SIZE='3'.*num_attention_heads=64 and num_key_value_heads=8"):
        tp.check(3, *tp.heads(GPT_OSS_120B))


@pytest.mark.parametrize("value,count", [("0,1,2", 3), ("", 0), ("-1", 0), ("0,-1,2", 1), ("GPU-abc,GPU-def", 2)])
def test_cuda_visible_devices(value, count):
    assert tp.count_from_visible_devices(value) == count


def test_nvidia_smi_listing_counts_gpus():
    """A stand-in for nvidia-smi (no GPU here): the recorded `nvidia-smi -L` text of a 2-GPU H100 host."""
    listing = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0a1b)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2c3d)\n")

    def run(cmd, **_):
        assert cmd == ["nvidia-smi", "-L"]
        return subprocess.CompletedProcess(cmd, 0, listing, "")

    assert tp.visible_gpus({}, run) == 2
    assert tp.resolve("auto", PHI4_MINI, {}, run) == 2


def test_auto_without_any_gpu_is_a_preflight_failure():
    def run(cmd, **_):
        raise FileNotFoundError("nvidia-smi")

    with pytest.raises(PreflightError, match="no GPU is visible"):
        tp.resolve("auto", PHI4_MINI, {}, run)
