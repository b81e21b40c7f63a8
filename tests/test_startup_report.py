"""The start-up report beside the compile caches, and `wait` showing phases of a recorded real log.

`wait` runs as the real CLI against tests/sglang_peer.py (a real HTTP peer standing in for SGLang's
readiness endpoint) while a real SGLang 0.5.9 CPU log, recorded by the real-server tier, is written
into the log file line by line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sglang_peer import Peer
from sglang_runtime.operate import phases, startup_report

LOG = Path(__file__).parent / "fixtures" / "logs" / "0.5.9-tiny.log"
CLI = str(Path(sys.executable).parent / "sglang-runtime")


def test_key_is_the_same_start_whatever_the_host_and_port():
    a = startup_report.start_key("0.5.9", ["--model-path", "m", "--host", "0.0.0.0", "--port", "30000", "--tp-size", "2"])
    b = startup_report.start_key("0.5.9", ["--model-path", "m", "--port=31000", "--tp-size", "2"])
    assert a == b
    assert a != startup_report.start_key("0.5.23", ["--model-path", "m", "--tp-size", "2"])
    assert a != startup_report.start_key("0.5.9", ["--model-path", "m", "--tp-size", "4"])


def test_warm_caches_are_those_that_held_files(tmp_path):
    (tmp_path / "triton").mkdir()
    (tmp_path / "triton" / "kernel.cubin").write_bytes(b"x")
    (tmp_path / "sglang").mkdir()
    dirs = {"TRITON_CACHE_DIR": str(tmp_path / "triton"), "SGLANG_CACHE_DIR": str(tmp_path / "sglang"),
            "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "missing")}
    assert startup_report.warm_caches(dirs) == ["TRITON_CACHE_DIR"]


def test_the_report_keeps_the_last_starts_per_key_and_a_bounded_number_of_keys(tmp_path):
    for i in range(startup_report.KEEP + 3):
        start = {"key": "k", "model": "m", "version": "0.5.9", "warm_caches": []}
        startup_report.record(tmp_path, start, "ready", 10.0 + i, {"weights": float(i)})
    entries = json.loads((tmp_path / startup_report.REPORT).read_text())["starts"]["k"]
    assert len(entries) == startup_report.KEEP and entries[-1]["total"] == 10.0 + startup_report.KEEP + 2
    assert startup_report.last_start(tmp_path, "k")["total"] == entries[-1]["total"]
    for i in range(startup_report.KEYS + 5):
        startup_report.record(tmp_path, {"key": f"other{i}"}, "timeout", 1.0, {})
    starts = json.loads((tmp_path / startup_report.REPORT).read_text())["starts"]
    assert len(starts) == startup_report.KEYS and f"other{startup_report.KEYS + 4}" in starts
    assert startup_report.last_start(tmp_path, "other0") is None


def test_a_damaged_report_is_an_empty_one(tmp_path):
    for text in ("{", "[]", '{"starts": [1]}', '{"starts": {"k": [1, "x", {"total": "?"}]}}', "x" * (2 << 20)):
        (tmp_path / startup_report.REPORT).write_text(text)
        assert startup_report.last_start(tmp_path, "k") is None
        assert startup_report.recent(tmp_path) == []
    (tmp_path / startup_report.PENDING).write_text('{"key": 1}')
    assert startup_report.pending(tmp_path, None) is None


def test_summary_names_the_slow_phases_and_the_caches():
    entry = {"result": "ready", "total": 112.4, "phases": {"imports": 9.0, "weights": 41.2, "graphs": 63.0, "warmup": 0.2},
             "warm_caches": []}
    assert startup_report.summary(entry) == "ready after 112.4 s: imports 9 s, weights 41 s, graphs 63 s (cold caches)"
    entry["warm_caches"] = ["TRITON_CACHE_DIR"]
    assert startup_report.summary(entry).endswith("(warm caches: TRITON_CACHE_DIR)")


def _replay(path: Path, lines: list[str], pace: float) -> threading.Thread:
    def write() -> None:
        with open(path, "a") as fh:
            for line in lines:
                fh.write(line + "\n")
                fh.flush()
                time.sleep(pace)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _wait(tmp_path: Path, peer: Peer, server: subprocess.Popen, *extra: str) -> subprocess.CompletedProcess:
    log = tmp_path / "server.log"
    log.write_text("")
    lines = LOG.read_text(errors="replace").splitlines()
    upto = next(i for i, line in enumerate(lines) if "Application startup complete." in line)
    _replay(log, lines[:upto + 1], pace=0.8 / upto)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")}
    env.update(SGLANG_RUNTIME_CACHE=str(tmp_path / "cache"), SGLANG_PORT=str(peer.port))
    return subprocess.run([CLI, "wait", "--log", str(log), "--pid", str(server.pid), "--interval", "0.1",
                           "--timeout", "60", *extra], env=env, capture_output=True, text=True, timeout=90)


def test_wait_json_reports_each_phase_records_the_start_and_the_next_start_gets_an_estimate(tmp_path):
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # stands in for SGLang's PID
    cache = tmp_path / "cache"
    try:
        startup_report.note_start(cache, "key1", "tiny-org/tiny-llama", "0.5.9", server.pid, [])
        with Peer(open_after=1.2, warmup_503s=2) as peer:
            first = _wait(tmp_path, peer, server, "--json")
        assert first.returncode == 0, first.stderr
        events = [json.loads(line) for line in first.stdout.splitlines()]  # stdout: events only, no export lines
        seen = [e["phase"] for e in events]
        changes = [p for i, p in enumerate(seen) if i == 0 or p != seen[i - 1]]  # progress repeats a phase
        assert changes == list(phases.CPU_PHASES), seen
        assert seen[0] == "imports" and seen[-1] == "ready"
        assert {"phase": "kv_cache", "done": 4096, "total": 4096} .items() <= events[seen.index("kv_cache")].items()
        assert "start-up report" in first.stderr and "(cold caches)" in first.stderr
        entry = startup_report.last_start(cache, "key1")
        assert entry["result"] == "ready" and set(entry["phases"]) >= {"imports", "weights", "warmup"}

        with Peer(open_after=1.2, warmup_503s=2) as peer:
            second = _wait(tmp_path, peer, server)  # not a terminal: plain lines
        assert second.returncode == 0, second.stderr
        plain = [line for line in second.stderr.splitlines() if "phase:" in line]
        assert len(plain) == len(phases.CPU_PHASES) and "\r" not in second.stderr
        assert f"(last start {entry['total']:.0f} s)" in plain[0]
        assert second.stdout.startswith("export OPENAI_BASE_URL=")
        assert len(json.loads((cache / startup_report.REPORT).read_text())["starts"]["key1"]) == 2
    finally:
        server.kill()
        server.wait()


def test_wait_for_another_pid_does_not_use_the_noted_start(tmp_path):
    cache = tmp_path / "cache"
    startup_report.note_start(cache, "key1", "m", "0.5.9", 1, [])
    assert startup_report.pending(cache, 2) is None and startup_report.pending(cache, 1)["key"] == "key1"


def test_doctor_shows_the_last_starts(tmp_path):
    from sglang_runtime.operate import doctor

    assert doctor.last_start_checks(tmp_path) == []
    startup_report.record(tmp_path, {"key": "a", "model": "org/m\x1b[2J", "version": "0.5.9", "warm_caches": []},
                          "ready", 112.0, {"weights": 41.0, "graphs": 63.0})
    startup_report.record(tmp_path, {"key": "a", "model": "org/m", "version": "0.5.9", "warm_caches": ["TRITON_CACHE_DIR"]},
                          "ready", 30.0, {"weights": 20.0, "graphs": 2.0})
    checks = doctor.last_start_checks(tmp_path)
    assert [c.name for c in checks] == ["last-start", "last-start"] and all(c.status == doctor.OK for c in checks)
    assert "weights 20 s, graphs 2 s (warm caches: TRITON_CACHE_DIR)" in checks[0].message  # newest first
    assert "weights 41 s, graphs 63 s (cold caches)" in checks[1].message and "\x1b" not in checks[1].message
