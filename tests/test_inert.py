"""Untrusted text is inert on a terminal (issue 22, class 4) and `wait --timeout` bounds the whole command
(class 5): hostile server logs, model files, answers and variable names, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from conftest import BIN, clean_env, flox_env, run_cli, write_model
from sglang_peer import Peer, free_port
from sglang_runtime.operate import causes
from sglang_runtime.util import inert

# What a terminal acts on: C0 (but tab), DEL, C1, line/paragraph separators, bidi controls, lone surrogates.
DANGEROUS = {chr(c) for c in [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F,
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]}
HOSTILE = ["\x1b]0;pwned title\x07", "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J\x1b[H", "\x1b[1A\x1b[2K", "real\rforged",
           "one\u2028two", "para\u2029graph", "\u202eevil\u202c", "\x9b31m", "\x85next", "nul\x00byte", "del\x7f"]


@hsettings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=60) | st.sampled_from(HOSTILE))
def test_a_line_is_one_line_without_anything_a_terminal_acts_on(text):
    shown = inert.line(text)
    assert not DANGEROUS & set(shown)
    assert len(shown.splitlines()) <= 1
    assert not any(0xD800 <= ord(c) < 0xE000 for c in shown)
    shown.encode("utf-8")  # writable to any UTF-8 terminal


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30) | st.sampled_from(HOSTILE), max_size=6))
def test_a_block_keeps_its_own_newlines_and_nothing_else(parts):
    text = "\n".join(parts)
    shown = inert.block(text)
    assert not (DANGEROUS - {"\n"}) & set(shown)
    assert shown.count("\n") == text.count("\n")


def _wait(*args, timeout: float = 60):
    return subprocess.run([str(BIN / "sglang-runtime"), "wait", *args], env=clean_env(), capture_output=True,
                          text=True, timeout=timeout)


def _assert_inert(text: str) -> None:
    bad = DANGEROUS - {"\n"}
    assert not bad & set(text), sorted(repr(c) for c in bad & set(text))


def test_a_hostile_log_is_shown_escaped_one_line_per_line(tmp_path):
    log = tmp_path / "server.log"
    lines = [f"line {i}: {h}" for i, h in enumerate(HOSTILE)]
    lines += ["Traceback (most recent call last):", '  File "/x/sglang/srt/a.py", line 1, in f',
              "ValueError: boom \x1b]0;title\x07 \u202eevil", "[2026-01-01 00:00:00] [Errno 98] address already in use \x1b[31m"]
    log.write_text("\n".join(lines) + "\n")
    proc = _wait("--url", f"http://127.0.0.1:{free_port()}", "--timeout", "20", "--interval", "0.2", "--log", str(log))
    assert proc.returncode == 4, proc.stderr
    _assert_inert(proc.stderr + proc.stdout)
    assert "\\x1b]0;pwned title\\x07" in proc.stderr and "real\\x0dforged" in proc.stderr
    # Each log line is one printed line: the forged "second lines" never start a line of their own.
    assert not any(out.startswith(("forged", "two", "graph", "next")) for out in proc.stderr.splitlines())
    assert "root cause: ValueError: boom \\x1b]0;title\\x07 \\u202eevil" in proc.stderr


QUADRATIC_LINES = {
    "port": "[Errno 98] address already in use " + "('" * 400_000,
    "gated": "Access to model " * 120_000,
    "context": "context_length " * 120_000,
}


@pytest.mark.parametrize("kind", sorted(QUADRATIC_LINES))
def test_a_megabyte_line_cannot_stretch_the_wait_past_its_timeout(tmp_path, kind):
    log = tmp_path / "server.log"
    log.write_text("starting\n" + QUADRATIC_LINES[kind] + "\n" + "Traceback (most recent call last):\n" + QUADRATIC_LINES[kind] + "\n")
    limit = 4
    started = time.monotonic()
    proc = _wait("--url", f"http://127.0.0.1:{free_port()}", "--timeout", str(limit), "--interval", "0.5", "--log", str(log))
    took = time.monotonic() - started
    assert proc.returncode in (1, 4), proc.stderr[-2000:]
    # The timeout bounds the whole command (reading, matching and diagnosing the log included);
    # the slack is the interpreter's start-up and the diagnosis's minimum.
    assert took < limit + 3, took
    assert len(max(proc.stderr.splitlines(), key=len)) < 5000  # log lines are cut, never printed whole


def test_a_fatal_line_at_the_end_of_a_big_log_is_found_at_once(tmp_path):
    log = tmp_path / "server.log"
    junk = ("x" * 199 + "\n").encode() * 5_000   # 1 MB
    with log.open("wb") as f:
        for _ in range(80):  # 80 MB of ordinary lines from a long-running earlier life
            f.write(junk)
        f.write(b"[2026-01-01 00:00:00] ERROR: [Errno 98] error while attempting to bind on address ('0.0.0.0', 30000): address already in use\n")
    started = time.monotonic()
    proc = _wait("--url", f"http://127.0.0.1:{free_port()}", "--timeout", "60", "--interval", "0.5", "--log", str(log))
    assert proc.returncode == 4 and "could not bind its port (port 30000)" in proc.stderr, proc.stderr[-2000:]
    assert time.monotonic() - started < 15


def test_a_known_cause_comes_from_the_root_not_from_a_wrapper_that_mentions_it():
    # SGLang 0.5.9 on a transformers-5 tokenizer: the root is the tokenizer class, the wrapper suggests trust_remote_code.
    log = ["Traceback (most recent call last):",
           '  File "/s/transformers/models/auto/tokenization_auto.py", line 1153, in from_pretrained',
           "ValueError: Tokenizer class TokenizersBackend does not exist or is not currently imported.",
           "",
           "During handling of the above exception, another exception occurred:",
           "",
           "Traceback (most recent call last):",
           '  File "/s/sglang/srt/utils/hf_transformers_utils.py", line 500, in get_tokenizer',
           "RuntimeError: Failed to load the tokenizer. If you are using a model with custom code, "
           "consider setting trust_remote_code=True."]
    found = causes.diagnose(log)
    assert any("root cause: ValueError: Tokenizer class TokenizersBackend" in line for line in found)
    assert any("known cause: transformers 4 cannot read a tokenizer saved by transformers 5" in line for line in found)
    assert not any("ships its own Python code" in line for line in found), found
    # The same words as the root cause (or outside any traceback) still name it.
    assert any("ships its own Python code" in line for line in causes.diagnose(
        ["ValueError: The repository contains custom code which must be executed to load it; pass trust_remote_code=True"]))


def test_a_hostile_answer_keeps_its_newlines_but_no_escape_sequence():
    with Peer(answer="line one\n\x1b]52;c;ZXZpbA==\x07line two\r\x1b[2Jforged", reasoning="think \x1b[1A") as peer:
        proc = subprocess.run([str(BIN / "sglang-runtime"), "query", "hi", "--url", peer.url], env=clean_env(),
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    _assert_inert(proc.stdout + proc.stderr)
    assert "line one\n\\x1b]52;c;ZXZpbA==\\x07line two\\x0d\\x1b[2Jforged" in proc.stdout


def test_a_hostile_variable_name_and_model_file_value_are_inert(flox, tmp_path):
    model = write_model(tmp_path / "m", config={"architectures": ["Llama\x1b]0;t\x07ForCausalLM\u2028forged"],
                                               "model_type": "llama\x1b[2J", "num_attention_heads": 4, "num_key_value_heads": 2})
    env = flox_env(flox, SGLANG_MODEL=str(model))
    env["SGLANG_MODLE\x1b]0;title\x07"] = "x"
    proc = run_cli("sglang-serve", "--dry-run", env=env)
    _assert_inert(proc.stdout + proc.stderr)
    assert "SGLANG_MODLE\\x1b]0;title\\x07" in proc.stderr, proc.stderr
    doctor = run_cli("sglang-runtime", "doctor", "--no-model-read", "--nvidia-smi", str(tmp_path / "none"), env=env)
    _assert_inert(doctor.stdout + doctor.stderr)


def test_a_url_with_a_control_character_is_refused_in_one_line():
    proc = _wait("--url", "http://127.0.0.1:1/\n\x1b[2Jforged line", "--timeout", "2")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    _assert_inert(proc.stderr)
