"""Every user mistake is a configuration error found early (issue 22, class 7): one line naming the
setting, exit 2, at --dry-run, never "this is a bug"; and hints name only options that exist."""

from __future__ import annotations

import subprocess

import pytest

from conftest import BIN, clean_env, flox_env, run_cli, write_model
from sglang_peer import Peer

DEEP = "[" * 100_000


def _one_config_line(proc, setting: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0] and "bug" not in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def _serve(flox, tmp_path, **extra):
    env = flox_env(flox, SGLANG_MODEL=str(write_model(tmp_path / "m")), **extra)
    return run_cli("sglang-serve", "--dry-run", env=env)


def test_deeply_nested_json_in_a_setting(flox, tmp_path):
    line = _one_config_line(_serve(flox, tmp_path, SGLANG_PREFERRED_SAMPLING_PARAMS='{"a": ' + DEEP), "SGLANG_PREFERRED_SAMPLING_PARAMS")
    assert "nested too deeply" in line and len(line) < 400


@pytest.mark.parametrize("host", ["a" * 64 + ".example.com", "bad_label.example", "-leading.example", "x" * 254])
def test_a_host_no_resolver_accepts(flox, tmp_path, host):
    line = _one_config_line(_serve(flox, tmp_path, SGLANG_HOST=host), "SGLANG_HOST")
    assert "63" in line


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1", "::", "::1", "localhost", "a" * 63 + ".example.com"])
def test_a_valid_host_passes(flox, tmp_path, host):
    assert _serve(flox, tmp_path, SGLANG_HOST=host).returncode == 0


@pytest.mark.parametrize("content,needle", [
    (b"--random-seed 1\n--tokenizer-path a\0b\n", "NUL byte"),
    (b"--tokenizer-path " + b"a" * 131072 + b"\n", "131071 bytes"),
])
def test_an_argument_exec_cannot_pass(flox, tmp_path, content, needle):
    (tmp_path / "args").write_bytes(content)
    line = _one_config_line(_serve(flox, tmp_path, SGLANG_ARGS_FILE=str(tmp_path / "args")), "SGLANG_ARGS_FILE")
    assert needle in line


def test_the_longest_argument_exec_takes_passes(flox, tmp_path):
    (tmp_path / "args").write_bytes(b"--tokenizer-path " + b"a" * 131071 + b"\n")
    assert _serve(flox, tmp_path, SGLANG_ARGS_FILE=str(tmp_path / "args")).returncode == 0


def test_a_shared_cache_that_cannot_be_read_names_its_setting(flox, tmp_path):
    # EACCES needs a user other than root (these tests run as root); ENAMETOOLONG takes the same path.
    unreadable = tmp_path / ("d" * 300)
    env = flox_env(flox, SGLANG_MODEL="org/model", SGLANG_MODEL_PATH=str(unreadable))
    line = _one_config_line(run_cli("sglang-resolve-model", env=env), "SGLANG_MODEL_PATH")
    assert "a directory this user can read" in line
    env = flox_env(flox, SGLANG_MODEL="org/model", HF_HUB_CACHE=str(unreadable))
    assert "HF_HUB_CACHE" in _one_config_line(run_cli("sglang-resolve-model", env=env), "HF_HUB_CACHE")


def test_a_deeply_nested_model_config_is_not_a_bug(flox, tmp_path):
    model = write_model(tmp_path / "m")
    (model / "config.json").write_text('{"a": ' + DEEP)
    proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL=str(model), SGLANG_TP_SIZE="2"))
    assert "bug" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 2)


def test_the_401_hint_names_only_options_that_exist():
    help_text = subprocess.run([str(BIN / "sglang-runtime"), "query", "--help"], capture_output=True, text=True).stdout
    with Peer(api_key="sk-the-right-key") as peer:
        proc = subprocess.run([str(BIN / "sglang-runtime"), "query", "hi", "--url", peer.url], env=clean_env(),
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "401" in proc.stderr
    hinted = [word.strip("(),.;:") for word in proc.stderr.split() if word.startswith("--")]
    assert all(option in help_text for option in hinted), (hinted, proc.stderr)
    assert "SGLANG_API_KEY" in proc.stderr
