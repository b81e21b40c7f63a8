"""Secrets live in one place only (issue 22, class 2): through the real `sglang-serve` -> bootstrap path, a
stand-in `sglang` package (ours, named as such: the real server is in tests/e2e) whose launch_server tries
every leak we could think of. No process — the server, multiprocessing children (spawn and fork),
subprocess children (`env`, `cat /proc/self/environ`, a Python child) — may show a key in its environment,
and no output may show one in any encoding a program commonly produces."""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import example, given, settings as hsettings, strategies as st

from conftest import clean_env, run_cli, write_model
from sglang_runtime.guest import redact

FAKE_LAUNCH_SERVER = textwrap.dedent(r'''
    """Stand-in for sglang.launch_server (not SGLang): parses like SGLang, then tries to leak the keys."""
    import argparse, json, multiprocessing as mp, os, subprocess, sys
    from urllib.parse import quote, quote_plus
    from sglang.leaker import child, show_env

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--model-path")
        parser.add_argument("--host")
        parser.add_argument("--port")
        parser.add_argument("--api-key")
        parser.add_argument("--admin-api-key")
        args, _ = parser.parse_known_args(sys.argv[1:])
        with open(os.environ["LEAK_RECORD"], "w") as f:
            json.dump({"pid": os.getpid(), "api_key": args.api_key, "admin_api_key": args.admin_api_key}, f)
        show_env("main")
        for key in (args.api_key, args.admin_api_key):
            for safe in ("", "/", ":/@", "!*'()", "~!$&'()*+,;=:@/"):
                print("url", safe, quote(key, safe=safe), flush=True)
            print("plus", quote_plus(key), flush=True)
            print("json", json.dumps(key), json.dumps({"k": key}), json.dumps(json.dumps(key)), flush=True)
            print("repr", repr(key), repr([key]), repr(json.dumps(key)), flush=True)
        for method in ("spawn", "fork"):
            p = mp.get_context(method).Process(target=child, args=(method,))
            p.start(); p.join()
        subprocess.run(["env"], check=True)
        subprocess.run(["cat", "/proc/self/environ"], check=True)
        subprocess.run([sys.executable, "-c", "import os; print('python child', dict(os.environ))"], check=True)
        # The start-up relay (a sibling that outlives the hand-over): its environment and what it holds open.
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if b"startup_relay" in open(f"/proc/{pid}/cmdline", "rb").read():
                    print("relay environ:", open(f"/proc/{pid}/environ", "rb").read(),
                          "fds:", len(os.listdir(f"/proc/{pid}/fd")), flush=True)
            except OSError:
                pass
        print("done", flush=True)
''')

# As in SGLang, a child's target lives in a module of its own (launch_server runs as __main__).
LEAKER = textwrap.dedent(r'''
    import os

    def show_env(tag):
        print(tag, "environ:", dict(os.environ), flush=True)
        with open("/proc/self/environ", "rb") as f:
            print(tag, "proc environ:", f.read().replace(b"\0", b"\n").decode(), flush=True)

    def child(tag):
        show_env(tag)
''')

API_KEY = "sk-te\\st\"qu'o/te+sp%25a"   # backslash, quotes, slash, plus and a percent sign: every escape differs
ADMIN_KEY = "adm1n/k3y:@wi!th(par)"


def _fake_sglang(root: Path) -> Path:
    site = root / "site"
    (site / "sglang").mkdir(parents=True)
    (site / "sglang" / "__init__.py").write_text("")
    (site / "sglang" / "launch_server.py").write_text(FAKE_LAUNCH_SERVER)
    (site / "sglang" / "leaker.py").write_text(LEAKER)
    (site / "sglang-0.5.23.dist-info").mkdir()
    (site / "sglang-0.5.23.dist-info" / "METADATA").write_text("Name: sglang\nVersion: 0.5.23\n")
    return site


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("how", ["variable", "key_file", "args_file"])
def test_no_process_of_the_server_has_a_key_in_its_environment_or_prints_one(tmp_path, how):
    site = _fake_sglang(tmp_path)
    model = write_model(tmp_path / "model")
    record = tmp_path / "record.json"
    env = clean_env(SGLANG_MODEL=str(model), SGLANG_PYTHON=sys.executable, PYTHONPATH=str(site), SGLANG_HOST="127.0.0.1",
                    SGLANG_PORT=str(_port()), SGLANG_HUB_CHECK="0", FLOX_ENV_CACHE=str(tmp_path / "cache"),
                    SGLANG_MODEL_ENV_FILE=str(tmp_path / "none.env"), LEAK_RECORD=str(record),
                    # A copy of the key under a name of the user's own: it must not reach the server either.
                    MY_COPY_OF_THE_KEY=f"prefix-{API_KEY}")
    if how == "variable":
        env.update(SGLANG_API_KEY=API_KEY, SGLANG_EXTRA_ARGS=f"--admin-api-key={ADMIN_KEY}")
    elif how == "key_file":
        (tmp_path / "key").write_text(API_KEY + "\n")
        env.update(SGLANG_API_KEY_FILE=str(tmp_path / "key"), SGLANG_EXTRA_ARGS=f"--admin-api-key '{ADMIN_KEY}'")
    else:
        (tmp_path / "args").write_text(f"--random-seed 7\n--admin-api-key={shlex.quote(ADMIN_KEY)}\n")
        env.update(SGLANG_API_KEY=API_KEY, SGLANG_ARGS_FILE=str(tmp_path / "args"))
    proc = run_cli("sglang-serve", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "done" in out, out[-3000:]
    seen = json.loads(record.read_text())
    assert (seen["api_key"], seen["admin_api_key"]) == (API_KEY, ADMIN_KEY), "SGLang must still receive both keys"
    # Every process printed its environment (os.environ and /proc/self/environ), none holds a key in any form.
    assert out.count("proc environ:") == 3 and "python child" in out
    # The relay runs with an empty environment and holds its pipe, its output and stdio only (not the hand-over pipe).
    assert "relay environ: b'' fds: 5" in out, out[-3000:]
    for key in (API_KEY, ADMIN_KEY):
        assert key not in out
        for form in redact.forms(key) | {quote(key, safe=s) for s in ("", "/", ":/@", "!*'()")} | {quote_plus(key)}:
            assert form not in out, form
    assert "SGLANG_API_KEY=" not in out and "MY_COPY_OF_THE_KEY" not in out
    assert out.count("url ") == 10 and out.count("url  ***") + out.count("url / ***") >= 4


KEYS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=40)
SAFE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12)


@hsettings(max_examples=300, deadline=None)
@given(key=KEYS, safe=SAFE, before=st.text(max_size=10), after=st.text(max_size=10))
def test_url_encoding_with_any_safe_set_is_masked(key, safe, before, after):
    # Lower-case hex only where quote() encoded a character (a literal "%0A" in the key is not an encoding).
    lower_hex = "".join(quote(c, safe=safe).lower() if quote(c, safe=safe) != c else c for c in key)
    for encoded in (quote(key, safe=safe), lower_hex, quote_plus(key, safe=safe)):
        assert encoded not in redact.redact_text(before + encoded + after, [key]).replace(redact.MASK, "\0") \
            or encoded in (before + after)


@hsettings(max_examples=300, deadline=None)
@given(key=KEYS, safe=SAFE, cut=st.integers(min_value=0, max_value=200))
# Found by this test: the first write ends in the key's "%" as itself; the next brings "25", its encoding.
@example(key="0::::::%", safe="", cut=25)
@example(key="abcdefg%", safe="", cut=13)
def test_url_encoded_key_split_across_writes_never_reaches_the_stream(key, safe, cut):
    import io

    sink = io.BytesIO()
    writer = redact.RedactingWriter(sink, [key])
    data = ("log: " + quote(key, safe=safe) + " end\n").encode()
    cut = min(cut, len(data))
    writer.write(data[:cut])
    writer.write(data[cut:])
    writer.drain()
    assert sink.getvalue() == b"log: *** end\n"


@hsettings(max_examples=200, deadline=None)
@given(key=KEYS)
def test_json_and_repr_of_a_key_and_of_its_json_are_masked(key):
    texts = [json.dumps(key), json.dumps({"k": key}), json.dumps(json.dumps(key)), repr(key), repr([key]),
             repr(json.dumps(key)), json.dumps(repr(key)), json.dumps(key, ensure_ascii=False)]
    for text in texts:
        masked = redact.redact_text(text, [key])
        assert key not in masked and redact.MASK in masked, (text, masked)


def test_the_doctor_model_probe_runs_model_code_without_any_secret(tmp_path):
    """`doctor` reads the model with the serving interpreter, which may run the model's own code
    (trust_remote_code): a stand-in interpreter that reports the environment it was given."""
    from sglang_runtime.host import probe

    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec " + sys.executable + " -c 'import json, os; print(json.dumps({\"env\": dict(os.environ)}))'\n")
    fake.chmod(0o755)
    env = {**clean_env(), "SGLANG_API_KEY": API_KEY, "SGLANG_EXTRA_ARGS": f"--admin-api-key={ADMIN_KEY}",
           "HF_TOKEN": "hf_secret_token_value"}
    seen = probe.run(str(fake), env, write_model(tmp_path / "m"))["env"]
    assert seen["HF_HUB_OFFLINE"] == "1"
    for secret in (API_KEY, ADMIN_KEY, "hf_secret_token_value"):
        assert not any(secret in value for value in seen.values())
