"""The real console scripts with SGLang's flag data in use: `sglang-runtime flags`, the notice for a
release newer than the data, extra arguments refused in one line, secret flags masked in dry runs."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BIN, flox_env, run_cli
from sglang_runtime.launch import flagdata
from sglang_runtime.config import settings

MODEL = "/models/m"


def test_flags_lists_managed_spellings_and_other_flags_for_the_given_release(flox):
    env = flox_env(flox)
    out = run_cli("sglang-runtime", "flags", "--version", "0.5.9", env=env, check_rc=0).stdout.splitlines()
    assert out[0] == "SGLang 0.5.9 (flag data of SGLang 0.5.9)"
    assert any(line.split() == ["SGLANG_CUDA_GRAPH_MAX_BS", "--cuda-graph-max-bs"] for line in out)
    assert any(line.split()[:2] == ["SGLANG_TP_SIZE", "--tp-size"] and "--tensor-parallel-size" in line for line in out)
    assert "  --admin-api-key VALUE   (secret: masked when printed)" in out
    newer = run_cli("sglang-runtime", "flags", "--version", "0.5.23", env=env, check_rc=0).stdout
    assert any(line.split() == ["SGLANG_CUDA_GRAPH_MAX_BS", "--cuda-graph-max-bs-decode"] for line in newer.splitlines())
    assert "--ssl-keyfile-password VALUE   (secret: masked when printed)" in newer


def test_flags_json_is_the_release_data(flox):
    view = json.loads(run_cli("sglang-runtime", "flags", "--version", "0.5.16", "--json", env=flox_env(flox), check_rc=0).stdout)
    data = flagdata.load("0.5.16")
    assert (view["sglang"], view["data"]) == ("0.5.16", "0.5.16")
    managed = {m["setting"]: m for m in view["managed"]}
    assert set(managed) == {s.env for s in settings.TABLE if s.flags}
    assert managed["SGLANG_CUDA_GRAPH_MAX_BS"]["flag"] == "--cuda-graph-max-bs-decode"
    # 0.5.16 still has the old spelling, as a deprecated alias storing into the same place: refused too.
    assert "--cuda-graph-max-bs" in managed["SGLANG_CUDA_GRAPH_MAX_BS"]["refused_in_extra_args"]
    listed = {o for m in view["managed"] for o in m["refused_in_extra_args"]} | {o for a in view["other"] for o in a["options"]}
    assert listed == set(data.options) - {"-h", "--help"}


def test_flags_defaults_to_the_detected_release_and_says_when_it_is_newer(flox):
    proc = run_cli("sglang-runtime", "flags", env=flox_env(flox, SGLANG_VERSION="0.6.2"), check_rc=0)
    assert proc.stdout.startswith("SGLang 0.6.2 (flag data of SGLang 0.5.23)")
    assert proc.stderr.splitlines() == [
        "notice: SGLang 0.6.2 is newer than the launcher's flag data (0.5.9 to 0.5.23); "
        "checking flags and spelling settings as for SGLang 0.5.23"]
    bad = run_cli("sglang-runtime", "flags", "--version", "latest", env=flox_env(flox), check_rc=2)
    assert bad.stderr == "sglang-runtime flags: error: --version='latest': expected a version such as 0.5.9\n"


def test_serve_for_a_newer_release_builds_as_the_newest_known_with_one_notice(flox):
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_VERSION="0.5.30", SGLANG_CUDA_GRAPH_MAX_BS="8")
    proc = run_cli("sglang-serve", "--dry-run", "--json", env=env, check_rc=0)
    assert json.loads(proc.stdout)["argv"][-2:] == ["--cuda-graph-max-bs-decode", "8"]
    notices = [line for line in proc.stderr.splitlines() if "flag data" in line]
    assert len(notices) == 1 and notices[0].startswith("notice: SGLang 0.5.30 is newer")


@pytest.mark.parametrize("extra,needle", [
    ("--tensor-parallel-size 2", "SGLANG_EXTRA_ARGS='--tensor-parallel-size': expected no flag a setting controls (SGLang 0.5.9 reads it as --tp-size): set SGLANG_TP_SIZE instead"),
    ("--enable-mixed-chunks", "SGLANG_EXTRA_ARGS='--enable-mixed-chunks': expected a flag SGLang 0.5.9 has (did you mean --enable-mixed-chunk?)"),
    ("--schedule-policy fifo", "SGLANG_EXTRA_ARGS='fifo': expected one of lpm, random, fcfs"),
])
def test_extra_args_are_refused_in_one_line_before_anything_starts(flox, extra, needle):
    proc = run_cli("sglang-serve", env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_EXTRA_ARGS=extra), check_rc=2)
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("sglang-serve: error: " + needle)


def test_args_file_with_a_byte_order_mark_and_a_managed_flag_is_refused(flox, tmp_path):
    args = tmp_path / "args"
    args.write_bytes("\ufeff--port 8000\n".encode("utf-8"))
    proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_ARGS_FILE=str(args)), check_rc=2)
    assert "SGLANG_ARGS_FILE=" in proc.stderr and "set SGLANG_PORT instead" in proc.stderr


def test_dry_run_masks_every_secret_flag_of_the_release(flox):
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_VERSION="0.5.23", SGLANG_API_KEY="k-one-123",
                   SGLANG_EXTRA_ARGS="--admin-api k-two-123 --ssl-keyfile-password=k-three-123")
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=0)
    assert "k-one-123" not in proc.stdout + proc.stderr
    assert "k-two-123" not in proc.stdout + proc.stderr and "k-three-123" not in proc.stdout + proc.stderr
    assert "--admin-api '***'" in proc.stdout and "'--ssl-keyfile-password=***'" in proc.stdout
    shown = run_cli("sglang-serve", "--dry-run", "--show-secrets", env=env, check_rc=0).stdout
    assert "k-two-123" in shown and "k-three-123" in shown


def test_a_reader_that_stops_early_ends_the_command_quietly(flox):
    # `sglang-runtime flags | head -3`: the pipe closes under us; no "bug" line, no traceback.
    proc = subprocess.Popen([str(BIN / "sglang-runtime"), "flags", "--version", "0.5.23"], env=flox_env(flox),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the interpreter has even started: every write finds no reader
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (1, b"")
