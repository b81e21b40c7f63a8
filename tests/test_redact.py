"""The one masking rule (redact.py) and the in-process bootstrap that applies it inside SGLang's processes.

Keys are generated (hypothesis): characters special in regular expressions, quotes and backslashes
that repr() and JSON escape, very long keys, keys that are substrings of other text. The bootstrap
runs for real: a Python process with a stand-in `sglang.launch_server` (SGLang itself is proven by
the real-server tier) that logs, prints, writes bytes, and spawns a multiprocessing child as SGLang
does, while the test reads every byte of its output.
"""

from __future__ import annotations

import io
import json
import os
import string
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given, settings as hsettings, strategies as st

from sglang_runtime.guest import bootstrap, redact

VISIBLE = string.ascii_letters + string.digits + string.punctuation  # what the launcher accepts in a key
keys = st.text(alphabet=VISIBLE, min_size=8, max_size=300)  # the launcher refuses shorter keys


def _sink():
    raw = io.BytesIO()
    return raw, redact.RedactingWriter(raw, [], "utf-8")


@given(key=keys, before=st.text(max_size=50), after=st.text(max_size=50))
def test_every_form_of_a_key_is_masked_in_text(key, before, after):
    for form in redact.forms(key):
        text = before + form + after
        masked = redact.redact_text(text, [key])
        assert key not in masked.replace(redact.MASK, "\0") or key in before + after or key in redact.MASK


@given(key=keys, text=st.text(max_size=200), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
@hsettings(max_examples=300)
def test_a_key_split_across_writes_never_reaches_the_stream(key, text, cuts):
    payload = (text + repr(key) + " " + json.dumps({"api_key": key}) + " " + key + "\n").encode()
    raw = io.BytesIO()
    writer = redact.RedactingWriter(raw, [key], "utf-8")
    points = sorted({c % (len(payload) + 1) for c in cuts}) + [len(payload)]
    start = 0
    for point in points:
        writer.write(payload[start:point])
        start = point
    writer.drain()
    out = raw.getvalue().decode()
    for form in redact.forms(key):
        if form not in (text + "\n"):
            assert form not in out
    assert out.endswith("\n")


def test_a_key_that_is_part_of_the_model_name_is_still_masked():
    key = "Llama"
    out = redact.redact_text("serving meta-llama/Llama-3.1-8B with api_key='Llama'", [key])
    assert "Llama" not in out  # the rule is literal: safety over a prettier model name


def test_flag_values_are_masked_even_when_the_value_is_unknown():
    text = "refused: --api-key abc --admin-api-key='x y' --ssl-keyfile-password=\"p\\\"w\" --port 30000"
    out = redact.mask(text, (), {"--api-key", "--admin-api-key", "--ssl-keyfile-password"})
    assert "abc" not in out and "x y" not in out and "p\\\"w" not in out and "--port 30000" in out


def test_very_long_keys_are_masked_in_linear_time():
    key = "k" * 4096
    raw = io.BytesIO()
    writer = redact.RedactingWriter(raw, [key], "utf-8")
    for _ in range(200):
        writer.write(("x" * 100 + key[:2000]).encode())
        writer.write((key[2000:] + "\n").encode())
    writer.drain()
    assert key.encode() not in raw.getvalue() and raw.getvalue().count(b"***") == 200


# ---------------------------------------------------------------- the bootstrap, run for real

# As in SGLang, the child's target lives in a module of its own (launch_server.py runs as __main__).
FAKE_WORKER = textwrap.dedent('''
    import logging, os

    def child(args):
        logging.basicConfig(level=logging.INFO, force=True)
        logging.getLogger("child").info("child server_args=%r", args)
        print("child sees", repr(args.api_key), flush=True)
        print("child environment holds the secret:", any("sk-" in v for v in os.environ.values()), flush=True)
        raise RuntimeError(f"crash quoting {args!r}")
''')
FAKE_LAUNCH_SERVER = textwrap.dedent('''
    """Stand-in for sglang.launch_server: parses its argv like SGLang, logs it, and spawns a child."""
    import argparse, logging, multiprocessing as mp, os, sys
    from sglang.worker import child

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--model-path")
        parser.add_argument("--api-key")
        parser.add_argument("--admin-api-key")
        args = parser.parse_args(sys.argv[1:])
        logging.basicConfig(level=logging.INFO, force=True)  # as SGLang configures logging: replaces handlers
        logging.getLogger("main").info("server_args=%r", vars(args))
        print("main parsed", args.api_key, args.admin_api_key, flush=True)
        sys.stdout.buffer.write(("raw bytes " + args.api_key + "\\n").encode()); sys.stdout.flush()
        mp.set_start_method("spawn", force=True)
        p = mp.Process(target=child, args=(args,))
        p.start(); p.join()
        print("child exit", p.exitcode, flush=True)
''')


def test_bootstrap_hands_keys_over_and_no_process_prints_them(tmp_path):
    package = tmp_path / "site" / "sglang"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text(FAKE_LAUNCH_SERVER)
    (package / "worker.py").write_text(FAKE_WORKER)
    api_key, admin_key = "sk-a.b*c(d)", "adm'in\\\"x"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG")}
    env.update(PYTHONPATH=str(tmp_path / "site"),
               **{bootstrap.SECRET_ARGV: json.dumps([f"--api-key={api_key}", f"--admin-api-key={admin_key}"]),
                  bootstrap.SECRET_FLAGS: json.dumps(["--api-key", "--admin-api-key"])})
    proc = subprocess.run([sys.executable, bootstrap.__file__, "--model-path", "m"], env=env, capture_output=True,
                          timeout=60, cwd=tmp_path)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert "main parsed *** ***" in out, out           # SGLang received both keys...
    assert "child sees '***'" in out, out               # ...and so did the spawned child, over the pipe
    assert "child environment holds the secret: False" in out
    assert "child server_args=" in out and "RuntimeError: crash quoting" in out and "raw bytes ***" in out
    for key in (api_key, admin_key):
        for form in redact.forms(key):
            assert form not in out, form


def test_bootstrap_refuses_a_malformed_handover(tmp_path):
    env = {**os.environ, bootstrap.SECRET_ARGV: "{not json"}
    proc = subprocess.run([sys.executable, bootstrap.__file__], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not a JSON list" in proc.stderr


def test_bootstrap_keeps_its_own_directory_off_sys_path(tmp_path):
    """Run as a script, the launcher's modules (settings.py, query.py...) must not shadow SGLang's imports."""
    package = tmp_path / "site" / "sglang"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text("import sys, os\nprint(repr(sys.path))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    env.pop(bootstrap.SECRET_ARGV, None)
    proc = subprocess.run([sys.executable, bootstrap.__file__], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert str(Path(bootstrap.__file__).parent) not in proc.stdout
