"""The env file round-trips any value, is read without a shell, and stays safe for the old `. file` scripts."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from sglang_runtime.util import envfile
from sglang_runtime.util.errors import ConfigError

NASTY = ["plain", "with spaces", "it's", 'say "hi"', "$HOME and ${PATH}", "back\\slash\\", "two\nlines\n",
         "$(touch /tmp/pwned-envfile)", "`touch /tmp/pwned-envfile`", "a; rm -rf /", "tab\there", "", "=x=", "é ü 漢"]


def test_round_trip(tmp_path):
    values = {f"K{i}": v for i, v in enumerate(NASTY)}
    path = tmp_path / "model.env"
    envfile.write(path, values)
    assert envfile.read(path, keys=None) == values
    assert path.stat().st_mode & 0o777 == 0o600


def test_bash_reads_the_same_values_and_runs_nothing(tmp_path):
    """The file stays compatible with scripts that `. FILE` it: a real bash sees the same bytes."""
    values = {f"K{i}": v for i, v in enumerate(NASTY)}
    path = tmp_path / "model.env"
    envfile.write(path, values)
    for key, value in values.items():
        out = subprocess.run(["bash", "-c", f'set -a; . "$1"; printf %s "${key}"', "bash", str(path)],
                             capture_output=True, text=True, check=True).stdout
        assert out == value
    assert not os.path.exists("/tmp/pwned-envfile")


def test_missing_file_reads_as_none(tmp_path):
    assert envfile.read(tmp_path / "absent") is None


@pytest.mark.parametrize("text", ["KEY='unterminated\n", "not a pair\n", "1BAD=x\n"])
def test_corrupt_file_is_a_config_error(text):
    with pytest.raises(ConfigError, match="SGLANG_MODEL_ENV_FILE"):
        envfile.parse(text, "f")


def test_bad_key_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError):
        envfile.write(tmp_path / "f", {"BAD KEY": "x"})
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_never_leave_a_partial_file(tmp_path):
    path = tmp_path / "model.env"
    big = {f"K{i}": "x" * 4000 for i in range(8)}
    other = {f"K{i}": "y" * 4000 for i in range(8)}
    seen: list[dict | None] = []

    def write(values):
        for _ in range(30):
            envfile.write(path, values)

    def read():
        for _ in range(200):
            seen.append(envfile.read(path, keys=None))

    threads = [threading.Thread(target=write, args=(big,)), threading.Thread(target=write, args=(other,)), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v is None or v in (big, other) for v in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.env"]


@pytest.mark.parametrize("key", ["LD_PRELOAD", "PYTHONSTARTUP", "SGLANG_PORT", "PATH", "PYTHONPATH"])
def test_only_the_keys_resolve_model_writes_are_read(tmp_path, key):
    path = tmp_path / "model.env"
    envfile.write(path, {envfile.RESOLVED_FOR: "a/b", key: "/tmp/evil.so"})
    with pytest.raises(ConfigError) as caught:
        envfile.read(path)
    assert key in str(caught.value) and "/tmp/evil.so" not in str(caught.value)


def test_an_env_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "model.env"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match="regular file"):
        envfile.read(path)
