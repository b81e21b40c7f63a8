"""`wait`: readiness against a real HTTP peer on 127.0.0.1 (tests/sglang_peer.py stands in for
SGLang, which needs a GPU) and process death with real child processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sglang_runtime.operate import health
from sglang_peer import Peer, free_port


def test_closed_then_503_then_ready_reports_each_change_in_order():
    seen = []
    with Peer(open_after=0.6, warmup_503s=3) as peer:
        out = health.wait(peer.url, timeout=20, interval=0.1, on_change=lambda o, t: seen.append((o.state, t)))
    assert out.result == health.READY and out.exit_code == 0
    assert [s for s, _ in seen] == [health.REFUSED, health.STARTING, health.READY]
    times = [t for _, t in seen]
    assert times == sorted(times) and times[-1] >= 0.6  # ready only after the port opened
    assert out.elapsed >= 0.6


def test_ready_means_health_generate_not_models():
    with Peer(warmup_503s=2) as peer:
        health.wait(peer.url, timeout=10, interval=0.05)
    paths = [p for _, p, _ in peer.requests]
    assert paths and set(paths) == {"/health_generate"}
    assert len(paths) == 3  # two 503s, then the 200


def test_times_out_with_exit_code_1_when_never_ready():
    port = free_port()  # nothing listens
    start = time.monotonic()
    out = health.wait(f"http://127.0.0.1:{port}", timeout=0.8, interval=0.1)
    assert out.result == "timeout" and out.exit_code == 1
    assert out.last.state == health.REFUSED
    assert 0.7 <= time.monotonic() - start < 5


def test_stuck_in_warmup_times_out_reporting_starting():
    with Peer(warmup_503s=10_000) as peer:
        out = health.wait(peer.url, timeout=0.6, interval=0.05)
    assert out.exit_code == 1 and out.last == health.Observation(health.STARTING, "503")


def test_api_key_is_sent_and_a_wrong_key_is_reported():
    # /health* is exempt from the key in SGLang, so a wrong key must still reach "ready".
    with Peer(api_key="sk-right") as peer:
        out = health.wait(peer.url, timeout=5, interval=0.05, api_key="sk-right")
    assert out.result == health.READY
    assert peer.requests[0][2].get("Authorization") == "Bearer sk-right"


def test_server_process_death_stops_the_wait_at_once_with_its_status():
    """A real child that exits 7 while the port stays closed: wait returns 'died' long before its timeout."""
    child = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(0.4); sys.exit(7)"])
    try:
        start = time.monotonic()
        out = health.wait(f"http://127.0.0.1:{free_port()}", timeout=60, interval=0.1, pid=child.pid)
        assert out.result == "died" and out.exit_code == 4
        assert out.exit_status == 7
        assert time.monotonic() - start < 5
    finally:
        child.wait()


def test_death_of_a_process_we_did_not_start_is_read_from_proc():
    """The CLI is not the server's parent: it finds the exit status of the zombie in /proc."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    time.sleep(0.5)  # exited, not yet reaped by us: a zombie
    cli = subprocess.run([sys.executable, "-c", f"from sglang_runtime.operate import health; print(health.process_exit({child.pid}))"],
                         capture_output=True, text=True, check=True)
    assert cli.stdout.strip() == "(True, 3)"
    child.wait()
    assert health.process_exit(child.pid)[0] is True  # reaped: gone, status no longer knowable


def test_running_process_is_not_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert health.process_exit(child.pid) == (False, None)
    finally:
        child.kill()
        child.wait()


def test_ready_exports_mask_the_key_unless_asked():
    masked = health.ready_exports("http://127.0.0.1:30000/", "sk-secret")
    assert masked[0] == "export OPENAI_BASE_URL=http://127.0.0.1:30000/v1"
    assert "sk-secret" not in "\n".join(masked) and "***" in masked[1]
    shown = health.ready_exports("http://127.0.0.1:30000", "sk-secret", show_secrets=True)
    assert shown[1] == "export OPENAI_API_KEY=sk-secret"
    assert health.ready_exports("http://h:1", None)[1] == "export OPENAI_API_KEY=EMPTY"


def test_log_tail_keeps_only_the_last_lines(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    assert health.log_tail(health.LogWatch(log), 3) == ["line 997", "line 998", "line 999"]
    assert "does not exist" in health.log_tail(health.LogWatch(tmp_path / "missing.log"))[0]


def test_a_log_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "server.log"
    os.mkfifo(fifo)
    watch = health.LogWatch(fifo)
    assert watch.fatal() is None and "not a regular file" in health.log_tail(watch)[0]


def test_wait_reads_a_piped_log_and_ends_at_a_fatal_line(tmp_path):
    """`... | sglang-runtime wait --log -`: the real CLI, fed a real SGLang 0.5.23 bind-failure line on a pipe."""
    port = free_port()  # nothing listens: the probe alone would only ever see "refused"
    line = (f"[2026-12-02 12:11:56] ERROR:    [Errno 98] error while attempting to bind on address "
            f"('127.0.0.1', {port}): address already in use\n")
    feeder = subprocess.Popen([sys.executable, "-c", f"import sys, time; time.sleep(1); sys.stdout.write({line!r}); "
                               "sys.stdout.flush(); time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        started = time.monotonic()
        proc = subprocess.run([str(Path(sys.executable).parent / "sglang-runtime"), "wait", "--log", "-", "--timeout", "60",
                               "--url", f"http://127.0.0.1:{port}"], stdin=feeder.stdout, capture_output=True,
                              text=True, timeout=90)
        took = time.monotonic() - started
    finally:
        feeder.kill()
    assert proc.returncode == 4 and f"(port {port})" in proc.stderr and took < 20
    assert "known cause: the HTTP port is taken" in proc.stderr and "--- last lines of the log ---" in proc.stderr


def _cli(*args, env_extra=None, timeout=60):
    import os
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "CUDA_VISIBLE_DEVICES"))}
    env.update(env_extra or {})
    return subprocess.run([str(Path(sys.executable).parent / "sglang-runtime"), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_wait_prints_progress_and_paste_ready_lines():
    # The port opens late enough that even a slow start of the CLI sees it closed first.
    with Peer(open_after=3.0, warmup_503s=2, api_key="sk-cli-key-1") as peer:
        proc = _cli("wait", "--interval", "0.1", "--timeout", "30",
                    env_extra={"SGLANG_PORT": str(peer.port), "SGLANG_API_KEY": "sk-cli-key-1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"export OPENAI_BASE_URL=http://127.0.0.1:{peer.port}/v1",
                                        "export OPENAI_API_KEY='***'  # masked: add --show-secrets to print it"]
    states = [line.split("] ")[1].split(":")[0] for line in proc.stderr.splitlines() if line.startswith("[")]
    assert states == ["refused", "starting", "ready"]
    assert "sk-cli-key-1" not in proc.stdout + proc.stderr


def test_cli_wait_exit_4_when_the_server_dies_and_shows_its_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("loading weights\nRuntimeError: CUDA error: no kernel image is available\n")
    child = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(0.3); sys.exit(1)"])
    try:
        proc = _cli("wait", "--url", f"http://127.0.0.1:{free_port()}", "--pid", str(child.pid),
                    "--log", str(log), "--interval", "0.1")
    finally:
        child.wait()
    assert proc.returncode == 4
    assert f"server process {child.pid} exited (exit status 1)" in proc.stderr
    assert "no kernel image is available" in proc.stderr


def test_cli_wait_exit_1_on_timeout():
    # Long enough for a first probe to come back on a loaded machine: the message names what it saw.
    proc = _cli("wait", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "3", "--interval", "0.1")
    assert proc.returncode == 1 and "not ready after" in proc.stderr and "refused" in proc.stderr
