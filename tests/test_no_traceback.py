"""No traceback, ever: every command, fed generated hostile settings, files and hosts, ends in one line
and a documented exit code — and never prints a secret.

Real processes throughout: each example runs the installed console script. The serving
interpreter is a stand-in script (no GPU to run SGLang) that exits 0 if it is ever started;
the Hub is a closed port on loopback (nothing is downloaded).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from conftest import BIN, clean_env, write_cached_repo
from sglang_runtime.config import settings

DOCUMENTED = {0, 1, 2, 3, 4}
SECRET = "sk-never-printed-42"
COMMANDS = [
    ["sglang-resolve-model"], ["sglang-serve", "--dry-run"], ["sglang-serve", "--dry-run", "--json"], ["sglang-serve"],
    ["sglang-runtime", "settings"], ["sglang-runtime", "doctor"], ["sglang-runtime", "doctor", "--json"],
    ["sglang-runtime", "wait", "--timeout", "1", "--interval", "0.2"], ["sglang-runtime", "query", "hi", "--timeout", "2"],
]


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> dict[str, str]:
    """Odd files and hosts, by name."""
    root = tmp_path_factory.mktemp("odd")
    fifo = root / "fifo"
    os.mkfifo(fifo)
    (root / "binary").write_bytes(bytes(range(256)) * 64)
    with open(root / "huge", "wb") as fh:  # sparse: 80 MB that take no disk
        fh.truncate(80 << 20)
    (root / "list.json").write_text("[1, 2, 3]")
    (root / "deep.json").write_text("[" * 5000 + "]" * 5000)
    (root / "key").write_text(SECRET + "\n")
    loop = root / "loop"
    loop.symlink_to(loop)
    fake = root / "bin" / "python3.12"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    smi = root / "smi"
    smi.mkdir()
    for name, body in {"garbage": "printf '\\377\\376 not csv at all\\n'", "empty": "true", "fails": "echo boom >&2; exit 9",
                       "inf": "echo '0, H100, 9.0, 1e999, 550.1'", "neg": "echo '0, H100, 9.0, -5, 550.1'",
                       "short": "echo '0, H100'"}.items():
        script = smi / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    (smi / "notexec").write_text("#!/bin/sh\n")
    (smi / "elf").write_bytes(b"\x7fELF" + b"\0" * 60)
    (smi / "elf").chmod(0o755)
    # Bundles broken in every way a model folder can be.
    bundles = root / "bundles" / "share" / "models" / "hub"
    for name, damage in {"list-config": "list", "bad-json": "bad", "fifo-config": "fifo", "loop-config": "loop",
                         "bad-index": "index", "bad-tokenizer": "tokenizer", "bad-ref": "ref"}.items():
        snap = write_cached_repo(bundles, f"org/{name}", shards=2, tokenizer_class="TokenizersBackend")
        config = snap / "config.json"
        if damage == "list":
            config.write_text("[]")
        elif damage == "bad":
            config.write_bytes(b"\xff{")
        elif damage == "fifo":
            config.unlink()
            os.mkfifo(config)
        elif damage == "loop":
            config.unlink()
            config.symlink_to(config)
        elif damage == "index":
            (snap / "model.safetensors.index.json").write_text('{"weight_map": 7}')
        elif damage == "tokenizer":
            (snap / "tokenizer_config.json").write_text('{"tokenizer_class": ["TokenizersBackend"], "extra_special_tokens": 5}')
        elif damage == "ref":
            (snap.parent.parent / "refs" / "main").write_text("../../../../etc/passwd")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return {"fifo": str(fifo), "binary": str(root / "binary"), "huge": str(root / "huge"), "list": str(root / "list.json"),
            "deep": str(root / "deep.json"), "key": str(root / "key"), "loop": str(loop), "dir": str(root),
            "zero": "/dev/zero", "missing": str(root / "absent"), "python": str(fake), "smi": str(smi),
            "flox_env": str(root / "bundles"), "closed": str(port), "cache": str(root / "cache")}


HOSTILE = ["", " ", "-", "--port", "-x", "0", "-1", "1e9", "99999999999999999999", "abc", "auto", "yes", "é漢",
           "$(touch /tmp/pwned-fuzz)", "`id`", "a;b", "line\nbreak", "'", '"', "\\", "{", "[]", '{"a": 1}', "../..",
           "/etc/passwd", "org/model", "gpt2", "a" * 5000, SECRET, f"--api-key {SECRET}", f"--admin-api-key={SECRET} '"]
FILE_KEYS = ["fifo", "binary", "huge", "list", "deep", "zero", "missing", "loop", "dir"]


def values_for(odd):
    return st.one_of(st.sampled_from(HOSTILE), st.sampled_from(FILE_KEYS).map(lambda k: odd[k]),
                     st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30))


def _run(argv, env, timeout=60):
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], env=env, capture_output=True, text=True, timeout=timeout)


def _check(proc, argv):
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, f"{argv}: {out[-3000:]}"
    assert proc.returncode in DOCUMENTED, f"{argv} exited {proc.returncode}: {out[-2000:]}"
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(errors) <= 1
    assert SECRET not in out, f"{argv} printed the secret: {out[-2000:]}"


def _base_env(odd, **extra):
    env = clean_env(FLOX_ENV=odd["flox_env"], FLOX_ENV_CACHE=odd["cache"], HF_HUB_CACHE=odd["cache"] + "/hf",
                    HF_ENDPOINT=f"http://127.0.0.1:{odd['closed']}", SGLANG_PORT=odd["closed"], SGLANG_HOST="127.0.0.1",
                    SGLANG_API_KEY_FILE=odd["key"], SGLANG_MODEL="org/model", SGLANG_VERSION="0.5.9")
    env["PATH"] = f"{Path(odd['python']).parent}{os.pathsep}{env['PATH']}"
    env.update(extra)
    return env


@hsettings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_generated_settings_never_give_a_traceback_or_a_secret(odd, data):
    argv = data.draw(st.sampled_from(COMMANDS))
    names = data.draw(st.lists(st.sampled_from([s.env for s in settings.TABLE] + ["HF_TOKEN", "HF_HUB_OFFLINE"]),
                               min_size=1, max_size=4, unique=True))
    extra = {name: data.draw(values_for(odd)) for name in names}
    _check(_run(argv, _base_env(odd, **extra)), argv)


@pytest.mark.parametrize("model", ["org/list-config", "org/bad-json", "org/fifo-config", "org/loop-config", "org/bad-index",
                                   "org/bad-tokenizer", "org/bad-ref"])
@pytest.mark.parametrize("argv", [["sglang-resolve-model"], ["sglang-runtime", "doctor"]], ids=["resolve", "doctor"])
def test_broken_bundles_are_one_line_or_a_fail_check(odd, model, argv):
    proc = _run(argv, _base_env(odd, SGLANG_MODEL=model, SGLANG_TOKENIZER_SHIM="always"))
    _check(proc, argv)
    if argv[0] == "sglang-resolve-model":
        assert proc.returncode == 2
    else:
        assert "[fail]" in proc.stdout


@pytest.mark.parametrize("smi", ["garbage", "empty", "fails", "inf", "neg", "short", "notexec", "elf", "absent"])
def test_odd_nvidia_smi_is_a_fail_line(odd, smi):
    proc = _run(["sglang-runtime", "doctor", "--json", "--nvidia-smi", f"{odd['smi']}/{smi}"], _base_env(odd))
    _check(proc, ["doctor", smi])
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["gpus"]["status"] == "fail"


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(odd, tmp_path):
    """Force a bug: a sitecustomize that breaks os.listdir inside the launcher's own process."""
    (tmp_path / "sitecustomize.py").write_text("import os\ndef broken(*a, **k):\n    raise RuntimeError('injected bug')\n"
                                                "os.scandir = broken\n")
    env = _base_env(odd, PYTHONPATH=str(tmp_path), SGLANG_MODEL="org/list-config")
    proc = _run(["sglang-resolve-model"], env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "unexpected RuntimeError: injected bug" in proc.stderr and "SGLANG_RUNTIME_DEBUG=1" in proc.stderr
    proc = _run(["sglang-resolve-model"], {**env, "SGLANG_RUNTIME_DEBUG": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert not Path("/tmp/pwned-fuzz").exists()
