"""argv building is a pure function of resolved values and the SGLang version."""

from __future__ import annotations

import pytest

from sglang_runtime import argv, settings
from sglang_runtime.errors import ConfigError

V0_5_9, V0_5_16, V0_5_23 = (0, 5, 9), (0, 5, 16), (0, 5, 23)


def build(values, version=V0_5_9, extra=()):
    return argv.build({"SGLANG_MODEL": "/m", **values}, version, "python3.12", extra)


def test_head_and_order_follow_the_table():
    out = build({"SGLANG_HOST": "0.0.0.0", "SGLANG_PORT": 30000, "SGLANG_TP_SIZE": 2})
    assert out == ["python3.12", "-m", "sglang.launch_server", "--model-path", "/m", "--host", "0.0.0.0",
                   "--port", "30000", "--tp-size", "2"]


def test_booleans_are_bare_flags_only_when_true():
    assert build({"SGLANG_ENABLE_METRICS": True})[-1] == "--enable-metrics"
    assert "--enable-metrics" not in build({"SGLANG_ENABLE_METRICS": False})


@pytest.mark.parametrize("version,expected", [
    (V0_5_9, ["--cuda-graph-max-bs", "64"]),
    ((0, 5, 12), ["--cuda-graph-max-bs", "64"]),
    (V0_5_16, ["--cuda-graph-max-bs-decode", "64"]),
    (V0_5_23, ["--cuda-graph-max-bs-decode", "64"]),
])
def test_cuda_graph_max_bs_spelling(version, expected):
    assert build({"SGLANG_CUDA_GRAPH_MAX_BS": 64}, version)[-2:] == expected


def test_disable_cuda_graph_spelling():
    assert build({"SGLANG_DISABLE_CUDA_GRAPH": True}, V0_5_9)[-1:] == ["--disable-cuda-graph"]
    assert build({"SGLANG_DISABLE_CUDA_GRAPH": True}, V0_5_23)[-4:] == [
        "--cuda-graph-backend-decode", "disabled", "--cuda-graph-backend-prefill", "disabled"]


def test_value_a_version_cannot_express_is_an_error():
    with pytest.raises(ConfigError, match=r"SGLANG_REASONING_PARSER='auto'.*needs SGLang >= 0.5.16"):
        build({"SGLANG_REASONING_PARSER": "auto"}, V0_5_9)
    assert build({"SGLANG_REASONING_PARSER": "auto"}, V0_5_23)[-2:] == ["--reasoning-parser", "auto"]


def test_flag_a_version_does_not_have_is_an_error():
    row = settings.Setting("SGLANG_X", "positive_int", "X.", flags=(("0.6.0", "--x"),), examples=("1",))
    with pytest.raises(ConfigError, match="SGLang 0.5.9 has no flag"):
        argv._tokens(row, 1, V0_5_9)


@pytest.mark.parametrize("extra", [["--port", "1"], ["--port=1"], ["--tp", "2"], ["--api-key", "k"], ["--cuda-graph-max-bs-decode", "8"]])
def test_extra_args_that_shadow_a_setting_are_refused(extra):
    with pytest.raises(ConfigError, match="SGLANG_EXTRA_ARGS"):
        argv.check_extra("SGLANG_EXTRA_ARGS", extra)


def test_unrelated_extra_args_pass():
    argv.check_extra("SGLANG_EXTRA_ARGS", ["--enable-mixed-chunk", "--stream-interval", "2", "-x"])


def test_masked_hides_both_spellings():
    assert argv.masked(["p", "--api-key", "s3", "--api-key=s4", "--port", "1"]) == ["p", "--api-key", "***", "--api-key=***", "--port", "1"]
