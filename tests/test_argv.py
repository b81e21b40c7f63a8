"""argv building and extra-argument checks: pure functions of values, the release's flag data and the tokens.

No SGLang here: the flag data (runtime/sglang_runtime/launch/releases, generated from the real parsers and
checked against them in test_contract.py) stands for each release. Generated secret values are in
test_argv_secrets.py (hypothesis, which the Nix build of the runtime does not carry).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sglang_runtime.launch import argv, flagdata
from sglang_runtime.config import settings
from sglang_runtime.util.errors import ConfigError

V0_5_9, V0_5_14, V0_5_16, V0_5_23 = (0, 5, 9), (0, 5, 14), (0, 5, 16), (0, 5, 23)
R9, R23 = flagdata.load("0.5.9"), flagdata.load("0.5.23")
RELEASES = flagdata.known()


def build(values, version=V0_5_9, extra=()):
    return argv.build({"SGLANG_MODEL": "/m", **values}, version, "python3.12", extra)


def refusal(tokens, release=R23, origin="SGLANG_EXTRA_ARGS", values=None) -> str:
    with pytest.raises(ConfigError) as caught:
        argv.check_extra(origin, tokens, release, values)
    return str(caught.value)


# ------------------------------------------------------------------ building


def test_head_and_order_follow_the_table():
    out = build({"SGLANG_HOST": "0.0.0.0", "SGLANG_PORT": 30000, "SGLANG_TP_SIZE": 2})
    assert out == ["python3.12", "-m", "sglang.launch_server", "--model-path", "/m", "--host", "0.0.0.0",
                   "--port", "30000", "--tp-size", "2"]


def test_booleans_are_bare_flags_only_when_true():
    assert build({"SGLANG_ENABLE_METRICS": True})[-1] == "--enable-metrics"
    assert "--enable-metrics" not in build({"SGLANG_ENABLE_METRICS": False})


@pytest.mark.parametrize("version,expected", [
    (V0_5_9, ["--cuda-graph-max-bs", "64"]),
    ((0, 5, 13), ["--cuda-graph-max-bs", "64"]),
    # 0.5.14 added --cuda-graph-max-bs-decode and made the old flag a deprecated alias of it.
    (V0_5_14, ["--cuda-graph-max-bs-decode", "64"]),
    (V0_5_23, ["--cuda-graph-max-bs-decode", "64"]),
])
def test_cuda_graph_max_bs_spelling(version, expected):
    assert build({"SGLANG_CUDA_GRAPH_MAX_BS": 64}, version)[-2:] == expected


def test_disable_cuda_graph_spelling():
    assert build({"SGLANG_DISABLE_CUDA_GRAPH": True}, (0, 5, 13))[-1:] == ["--disable-cuda-graph"]
    assert build({"SGLANG_DISABLE_CUDA_GRAPH": True}, V0_5_14)[-4:] == [
        "--cuda-graph-backend-decode", "disabled", "--cuda-graph-backend-prefill", "disabled"]


def test_value_a_release_cannot_express_is_an_error():
    with pytest.raises(ConfigError, match=r"SGLANG_REASONING_PARSER='auto'.*needs SGLang >= 0\.5\.12") as caught:
        build({"SGLANG_REASONING_PARSER": "auto"}, V0_5_9)
    assert "deepseek-r1" in str(caught.value)  # the release's own choices
    assert build({"SGLANG_REASONING_PARSER": "auto"}, (0, 5, 12))[-2:] == ["--reasoning-parser", "auto"]


def test_setting_values_are_checked_against_the_release_choices():
    with pytest.raises(ConfigError, match=r"SGLANG_DTYPE='bf16': expected a value SGLang 0\.5\.23 accepts for --dtype: "
                                          r"one of auto, half, float16, bfloat16, float, float32"):
        build({"SGLANG_DTYPE": "bf16"}, V0_5_23)


def test_flag_a_release_does_not_have_is_an_error():
    row = settings.Setting("SGLANG_X", "positive_int", "X.", flags=(("0.6.0", "--x-that-sglang-lacks"),), examples=("1",))
    with pytest.raises(ConfigError, match="SGLang 0.5.9 has no flag"):
        argv._tokens(row, 1, R9)


def test_spelling_prefers_a_flag_the_release_does_not_deprecate():
    row = settings.BY_NAME["SGLANG_CUDA_GRAPH_MAX_BS"]
    # 0.5.14-0.5.19 accept both; the old one is a Deprecated* action there.
    r14 = flagdata.load("0.5.14")
    assert r14.action("--cuda-graph-max-bs").deprecated and not r14.action("--cuda-graph-max-bs-decode").deprecated
    assert argv.spelling(row, r14) == "--cuda-graph-max-bs-decode"
    assert argv.spelling(row, R9) == "--cuda-graph-max-bs"


@pytest.mark.parametrize("setting", [s for s in settings.TABLE if s.flags], ids=lambda s: s.env)
def test_table_thresholds_agree_with_the_data_for_every_release(setting):
    """The hand-written `since` versions give, for every release the data knows, the spelling the
    data gives; and value_since agrees with the release's choices."""
    for release in RELEASES:
        data = flagdata.load(release)
        assert argv.table_spelling(setting, settings.parse_version(release)) == argv.spelling(setting, data), release
        for value, since in setting.value_since.items():
            action = data.action(argv.spelling(setting, data).split()[0])
            assert action.accepts(value) == (settings.parse_version(release) >= settings.parse_version(since)), \
                (release, value)


def test_newer_release_builds_as_the_newest_known():
    newest = RELEASES[-1]
    assert build({"SGLANG_CUDA_GRAPH_MAX_BS": 8}, (9, 9, 9)) == build({"SGLANG_CUDA_GRAPH_MAX_BS": 8}, settings.parse_version(newest))


# ------------------------------------------------------------------ extra arguments


def test_unrelated_extra_args_pass():
    for release in (R9, R23):
        argv.check_extra("SGLANG_EXTRA_ARGS", ["--enable-mixed-chunk", "--stream-interval", "2",
                                               "--random-seed=-1", "--schedule-policy", "fcfs"], release)
    argv.check_extra("SGLANG_EXTRA_ARGS", [], R23)


@pytest.mark.parametrize("extra", [["--port", "1"], ["--port=1"], ["--tp", "2"], ["--api-key", "k"],
                                   ["--cuda-graph-max-bs-decode", "8"], ["--model", "x"], ["--enable-metrics"]])
def test_extra_args_that_shadow_a_setting_are_refused(extra):
    assert "SGLANG_EXTRA_ARGS=" in refusal(extra)


def test_an_alias_is_refused_as_its_flag():
    # --tensor-parallel-size is --tp-size in 0.5.9 (dest tensor_parallel_size) and 0.5.23 (dest tp_size).
    for release in (R9, R23):
        message = refusal(["--tensor-parallel-size", "2"], release)
        assert message.startswith("SGLANG_EXTRA_ARGS='--tensor-parallel-size': expected no flag a setting controls")
        assert message.endswith("set SGLANG_TP_SIZE instead")


def test_a_unique_prefix_is_refused_as_its_flag():
    assert "set SGLANG_MEM_FRACTION_STATIC instead" in refusal(["--mem-frac", "0.5"])
    assert "set SGLANG_TP_SIZE instead" in refusal(["--tensor-par=2"])
    assert "set SGLANG_TRUST_REMOTE_CODE instead" in refusal(["--trust-rem"])


def test_a_deprecated_alias_that_stores_into_a_managed_place_is_refused():
    # 0.5.14-0.5.19: --cuda-graph-max-bs is a deprecated alias storing into cuda_graph_max_bs_decode.
    message = refusal(["--cuda-graph-max-bs", "8"], flagdata.load("0.5.16"))
    assert "reads it as --cuda-graph-max-bs-decode" in message and "SGLANG_CUDA_GRAPH_MAX_BS" in message


def test_fixed_value_flags_of_a_switch_are_free_unless_it_is_on():
    extra = ["--cuda-graph-backend-prefill", "breakable"]
    argv.check_extra("SGLANG_EXTRA_ARGS", extra, R23, {})
    assert "set SGLANG_DISABLE_CUDA_GRAPH instead" in refusal(extra, values={"SGLANG_DISABLE_CUDA_GRAPH": True})
    # The switch's own old spelling is always its.
    assert "set SGLANG_DISABLE_CUDA_GRAPH instead" in refusal(["--disable-cuda-graph"])


def test_a_flag_after_a_byte_order_mark_is_refused():
    message = refusal(["\ufeff--port", "8000"], origin="SGLANG_ARGS_FILE")
    assert message.startswith("SGLANG_ARGS_FILE='\\ufeff--port': expected no flag a setting controls, even after a byte-order mark")
    assert "set SGLANG_PORT instead" in message
    assert "no byte-order mark" in refusal(["\ufeff--enable-mixed-chunk"])


def test_unknown_flag_is_refused_with_a_suggestion_from_the_same_release():
    assert refusal(["--enable-mixed-chunks"]) == ("SGLANG_EXTRA_ARGS='--enable-mixed-chunks': expected a flag SGLang 0.5.23 "
                                                   "has (did you mean --enable-mixed-chunk?)")
    # A flag only other releases have: say which.
    message = refusal(["--tokenizer-backend", "huggingface"], R9)
    assert message.endswith("expected a flag SGLang 0.5.9 has (only SGLang 0.5.11 to 0.5.23 have --tokenizer-backend)")


def test_ambiguous_prefix_is_refused_as_sglang_would():
    message = refusal(["--cuda-graph-max-bs", "8"])  # 0.5.23: two flags start with it
    assert "could be --cuda-graph-max-bs-decode, --cuda-graph-max-bs-prefill" in message


def test_values_are_checked_against_choices_and_types():
    assert refusal(["--schedule-policy", "fifo"]).startswith(
        "SGLANG_EXTRA_ARGS='fifo': expected one of lpm, random, fcfs")
    assert refusal(["--schedule-policy=fifo"]).startswith("SGLANG_EXTRA_ARGS='--schedule-policy=fifo': expected one of")
    assert "expected an integer for --stream-interval" in refusal(["--stream-interval", "often"])
    assert "expected one of 0, 1, 2, 3 for --log-requests-level" in refusal(["--log-requests-level", "7"])


def test_missing_values_switch_values_and_strays_are_refused():
    assert "expected a value after --stream-interval" in refusal(["--stream-interval"])
    assert "expected a value after --stream-interval" in refusal(["--stream-interval", "--enable-mixed-chunk"])
    assert "expected no value: --enable-mixed-chunk is a switch" in refusal(["--enable-mixed-chunk=yes"])
    assert "SGLANG_EXTRA_ARGS='extra': expected a flag here" in refusal(["--enable-mixed-chunk", "extra"])
    assert "expected no '--'" in refusal(["--", "--enable-mixed-chunk"])
    assert "--help makes SGLang print its help" in refusal(["--help"])


def test_masked_hides_every_secret_flag_of_the_release_under_any_prefix():
    out = argv.masked(["p", "--api-key", "s1", "--admin-api-key=s2", "--ssl-keyfile-password", "s3",
                       "--admin-api", "s4", "--watermark-config", "{}", "--port", "1"], argv.secret_flags((0, 5, 23)))
    assert out == ["p", "--api-key", "***", "--admin-api-key=***", "--ssl-keyfile-password", "***",
                   "--admin-api", "***", "--watermark-config", "***", "--port", "1"]
    assert argv.secret_flags((0, 5, 23)) == {"--api-key", "--admin-api-key", "--ssl-keyfile-password", "--watermark-config"}
    # 0.5.9 has none of the newer secret flags: its argv masks only what it has.
    assert argv.masked(["--ssl-keyfile-password", "x"], argv.secret_flags((0, 5, 9))) == ["--ssl-keyfile-password", "x"]
    # Without a release: every known release's secrets.
    assert argv.masked(["--ssl-keyfile-password=x"]) == ["--ssl-keyfile-password=***"]


# Each refusal docs/releases.md shows, produced here: (release, origin, tokens, what the user typed it as).
DOCUMENTED_REFUSALS = [
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--tensor-parallel-size", "2"]),
    ("0.5.23", "SGLANG_ARGS_FILE", ["\ufeff--port", "8000"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--enable-mixed-chunks"]),
    ("0.5.9", "SGLANG_EXTRA_ARGS", ["--tokenizer-backend", "huggingface"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--cuda-graph-max-bs", "8"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--schedule-policy", "fifo"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--stream-interval", "often"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--stream-interval"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--enable-mixed-chunk=yes"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--enable-mixed-chunk", "extra"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--help"]),
    ("0.5.19", "SGLANG_EXTRA_ARGS", ["--enable-expert-distribution-metrics"]),
    ("0.5.23", "SGLANG_EXTRA_ARGS", ["--api-kee=s3cret"]),
]


@pytest.mark.parametrize("version,origin,tokens", DOCUMENTED_REFUSALS)
def test_the_releases_page_shows_the_real_refusals(version, origin, tokens):
    page = (Path(__file__).resolve().parents[1] / "docs" / "releases.md").read_text(encoding="utf-8")
    assert refusal(tokens, flagdata.load(version), origin) in page


def test_a_flag_that_is_a_prefix_of_a_secret_flag_but_a_flag_of_its_own_stays_on_the_command_line():
    # --ssl-keyfile (a path) is its own flag, so argparse never reads it as --ssl-keyfile-password;
    # taking it for one would hand SGLang the path as the key file's password.
    release = flagdata.load("0.5.23")
    public, pairs = argv.split_secrets(
        ["--ssl-keyfile", "/k.pem", "--ssl-keyfile-pass", "pw-123", "--admin-api=ad-123", "--port", "1"],
        argv.secret_flags((0, 5, 23)), release)
    assert public == ["--ssl-keyfile", "/k.pem", "--port", "1"]
    assert pairs == [("--ssl-keyfile-password", "pw-123"), ("--admin-api-key", "ad-123")]
