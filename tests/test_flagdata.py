"""The packaged flag data: which release's data a version gets, what it holds, and how fast it loads.

The data itself is checked against the real releases in test_contract.py; here it is used as shipped.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sglang_runtime.launch import argv, flagdata
from sglang_runtime.config import settings

RELEASES = flagdata.known()


def test_data_covers_every_final_release_from_0_5_9_to_0_5_23():
    assert RELEASES == tuple(f"0.5.{n}" for n in range(9, 24))


@pytest.mark.parametrize("version,chosen,notice", [
    ("0.5.9", "0.5.9", None),
    ("0.5.16", "0.5.16", None),
    ("0.5.10.post1", "0.5.10", None),   # a post release reads as its final release
    ("0.5.13rc2", "0.5.13", None),
    ("0.5.23", "0.5.23", None),
    ("0.5.24", "0.5.23", "newer"),
    ("0.6.0", "0.5.23", "newer"),
    ("0.5.8", "0.5.9", "older"),
])
def test_choose_exact_else_nearest_older_else_an_end_with_one_notice(version, chosen, notice):
    got, message = flagdata.choose(version)
    assert got == chosen
    if notice is None:
        assert message is None
    else:
        assert notice in message and f"SGLang {version}" in message and chosen in message and "\n" not in message


def test_a_release_holds_its_actions_aliases_choices_and_variables():
    r9, r23 = flagdata.load("0.5.9"), flagdata.load("0.5.23")
    tp9, tp23 = r9.action("--tp-size"), r23.action("--tp-size")
    assert r9.action("--tensor-parallel-size") is tp9 and tp9.dest == "tensor_parallel_size"
    assert r23.action("--tensor-parallel-size") is tp23 and tp23.dest == "tp_size"
    assert r23.action("--ep").dest == "ep_size"
    assert r23.action("--enable-tf32-matmul") is r23.action("--no-enable-tf32-matmul")
    assert r23.action("--tool-call-parser").accepts("auto") and not r9.action("--tool-call-parser").accepts("auto")
    assert r23.action("--enable-metrics").nargs == 0 and r23.action("--gc-threshold").nargs == "+"
    assert r23.action("--disable-cuda-graph").deprecated
    assert "SGLANG_PORT" in r9.env and "SGLANG_HOST_IP" in r9.env
    assert len(r9.env) == 356 and len(r23.env) == 1097  # as docs/sglang-test-infra.md counts them
    assert len(r9.options) == 343 and len(r23.options) == 561


def test_secret_flags_found_in_the_parsers():
    # --api-key and --admin-api-key in every release; --ssl-keyfile-password from 0.5.10;
    # --watermark-config (inline JSON with keys, redacted by SGLang itself) from 0.5.22.
    assert flagdata.secret_flags("0.5.9") == {"--api-key", "--admin-api-key"}
    for release in RELEASES[1:]:
        watermark = {"--watermark-config"} if settings.parse_version(release) >= (0, 5, 22) else set()
        assert flagdata.secret_flags(release) == {"--api-key", "--admin-api-key", "--ssl-keyfile-password"} | watermark
    assert flagdata.all_secret_flags() == {"--api-key", "--admin-api-key", "--ssl-keyfile-password", "--watermark-config"}


def test_the_launchers_list_of_every_releases_secret_flags_is_the_datas():
    # argv keeps the union as a constant (loading every release's data would cost each command ~20 ms).
    assert argv.KNOWN_SECRET_FLAGS == flagdata.all_secret_flags()
    assert argv.SECRET_FLAGS <= argv.all_secret_flags()


def test_read_follows_argparse():
    r = flagdata.load("0.5.23")
    assert r.read("--port").kind == flagdata.OPTION
    eq = r.read("--tp=4")
    assert (eq.kind, eq.option, eq.explicit, eq.action.dest) == (flagdata.OPTION, "--tp-size", "4", "tp_size")
    assert r.read("--cuda-graph-max-bs").kind == flagdata.AMBIGUOUS
    assert r.read("--no-such-flag=1").kind == flagdata.UNKNOWN and r.read("--no-such-flag=1").option == "--no-such-flag"
    for value in ("-1", "-0.5", "x", "", "-", "has -space", "\ufeff--port"):
        assert r.read(value).kind == flagdata.VALUE, value


def test_sglang_env_names_are_the_release_registry():
    assert "SGLANG_PORT" in flagdata.sglang_env_names("0.5.23")
    assert flagdata.sglang_env_names("0.6.0") == flagdata.sglang_env_names("0.5.23")
    assert not flagdata.sglang_env_names("0.5.9") & (settings.NAMES - {"SGLANG_PORT"})


def test_loading_reads_only_the_release_asked_for():
    code = ("import json; from sglang_runtime.launch import flagdata, argv;"
            "argv.build({'SGLANG_MODEL': 'm'}, (0, 5, 23), 'p');"
            "print(json.dumps(flagdata.load.cache_info().currsize))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == 1


def test_broken_data_is_one_config_error(tmp_path, monkeypatch):
    (tmp_path / "sglang-0.5.9.json").write_text("[1, 2]")
    monkeypatch.setattr(flagdata, "DATA_DIR", str(tmp_path))
    flagdata.load.cache_clear()
    try:
        with pytest.raises(Exception) as caught:
            flagdata.load("0.5.9")
        assert type(caught.value).__name__ == "ConfigError" and "flag data for SGLang 0.5.9" in str(caught.value)
    finally:
        flagdata.load.cache_clear()
