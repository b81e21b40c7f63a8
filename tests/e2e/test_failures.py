"""Failure paths with REAL SGLang servers and real processes: what the user sees when it cannot come up.

Each case starts the service as Flox does and runs `sglang-runtime wait --pid --log` beside it, as
docs/operating.md says to. Measured: seconds from the server's fatal log line (or its death) to wait's
exit. The one stand-in is cpu/standin/sgl_kernel (see serving.py).
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from serving import TINY_ID, VERSIONS, Server, bundle, free_port, server_env


class LogClock:
    """Notes when a text first appears in a growing log file (polled every 50 ms)."""

    def __init__(self, path: Path, needle: str) -> None:
        self.path, self.needle, self.seen_at = path, needle, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and self.seen_at is None:
            try:
                if self.needle in self.path.read_text(errors="replace"):
                    self.seen_at = time.monotonic()
            except OSError:
                pass
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def _model_with(tiny_model: Path, root: Path, **config_changes) -> Path:
    copy = root / "model"
    shutil.copytree(tiny_model, copy)
    config = json.loads((copy / "config.json").read_text())
    config.update(config_changes)
    (copy / "config.json").write_text(json.dumps(config))
    return copy


def _start_and_wait(tmp_path: Path, version: str, model_dir: Path, needle: str, **env_extra):
    flox_env = tmp_path / "flox-env"
    bundle(flox_env, TINY_ID, model_dir)
    port = int(env_extra.pop("port", 0)) or free_port()
    server = Server(version, port, tmp_path / "server.log", server_env(version, tmp_path, flox_env, TINY_ID, port, **env_extra))
    clock = LogClock(server.log, needle)
    server.start()
    try:
        waited = server.wait_ready(timeout=400)
        exited_at = time.monotonic()
    finally:
        clock.stop()
        server.stop(timeout=5)
    return server, waited, exited_at, clock.seen_at


@pytest.mark.parametrize("version", VERSIONS)
def test_a_model_sglang_cannot_load_ends_wait_with_exit_4_and_its_cause(version, tmp_path, tiny_model, measured):
    model = _model_with(tiny_model, tmp_path, architectures=["NoSuchForCausalLM"])
    server, waited, exited_at, crashed_at = _start_and_wait(tmp_path, version, model, "NoSuchForCausalLM'")
    assert waited.returncode == 4, waited.stderr[-2000:]
    lines = waited.stderr.splitlines()
    assert any(line.startswith("root cause:") and "NoSuchForCausalLM" in line for line in lines), waited.stderr[-3000:]
    assert any("known cause: SGLang has no model class" in line for line in lines)
    assert crashed_at is not None
    measured.setdefault(f"failures {version}", {})["unknown_arch_crash_to_wait_exit_s"] = round(exited_at - crashed_at, 2)
    assert exited_at - crashed_at < 10


def test_a_taken_port_is_refused_by_preflight_before_sglang_starts(tmp_path, tiny_model):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        flox_env = tmp_path / "flox-env"
        bundle(flox_env, TINY_ID, tiny_model)
        server = Server(VERSIONS[0], port, tmp_path / "server.log", server_env(VERSIONS[0], tmp_path, flox_env, TINY_ID, port))
        begun = time.monotonic()
        server.start()
        rc = server.proc.wait(60)
        took = time.monotonic() - begun
    assert rc == 3, server.text()
    assert f"SGLANG_PORT={port}" in server.text()
    assert "server_args" not in server.text() and took < 30  # SGLang never started


@pytest.mark.parametrize("version", VERSIONS)
def test_sglang_failing_to_bind_its_port_ends_wait_at_the_fatal_line(version, tmp_path, tiny_model, measured):
    """Preflight off (or a race after it): SGLang loads the model, logs [Errno 98], and 0.5.23 then hangs.
    `wait --log` must end at that line, naming the port, not at its 900 s timeout."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server, waited, exited_at, fatal_at = _start_and_wait(tmp_path, version, tiny_model, "Errno 98", port=str(port),
                                                              SGLANG_PREFLIGHT="0")
    assert waited.returncode == 4, waited.stderr[-2000:]
    assert f"port {port}" in waited.stderr and "could not bind its port" in waited.stderr
    assert fatal_at is not None
    measured.setdefault(f"failures {version}", {})["bind_fatal_line_to_wait_exit_s"] = round(exited_at - fatal_at, 2)
    assert exited_at - fatal_at < 10


def test_the_tokenizer_break_is_named_by_its_first_exception_not_the_misleading_last(tmp_path, tiny_model, measured):
    """0.5.9 (transformers 4.57) given a transformers-5 tokenizer config that names a real v4 class but
    keeps its extra special tokens as a list (as published checkpoints do), translation off: its last
    exception says protobuf is missing; wait must name the real cause and the setting that fixes it."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    server, waited, exited_at, crashed_at = _start_and_wait(tmp_path, "0.5.9", model, "'list' object has no",
                                                            SGLANG_TOKENIZER_SHIM="never")
    assert waited.returncode == 4, waited.stderr[-2000:]
    lines = waited.stderr.splitlines()
    root = next(i for i, line in enumerate(lines) if line.startswith("root cause:"))
    assert "AttributeError: 'list' object has no attribute 'keys'" in lines[root]
    assert "protobuf" in lines[root + 1]  # what SGLang's last exception says, shown as such
    assert any(line.startswith("known cause:") and "SGLANG_TOKENIZER_SHIM" in line for line in lines)
    measured.setdefault("failures 0.5.9", {})["tokenizer_crash_to_wait_exit_s"] = round(exited_at - crashed_at, 2)
