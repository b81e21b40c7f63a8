"""`sglang-serve` adds plain phase lines to the server's own output (what `flox services logs` and
`kubectl logs` show), run as the real CLI. The serving interpreter is a STAND-IN (a script given as
SGLANG_PYTHON) that replays a real SGLang 0.5.9 CPU log recorded by the real-server tier; the real server
is covered by the real-server tier, whose service log carries these lines too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sglang_runtime.operate import phases, startup_relay, startup_report

LOG = Path(__file__).parent / "fixtures" / "logs" / "0.5.9-tiny.log"
SERVE = str(Path(sys.executable).parent / "sglang-serve")


def _stand_in(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "python-stand-in"
    script.write_text(f"#!{sys.executable}\n# A stand-in for the serving interpreter: replays a recorded log.\n{body}")
    script.chmod(0o755)
    return script


def _serve(tmp_path: Path, python: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SGLANG_MODEL": "org/model", "SGLANG_PYTHON": str(python),
           "SGLANG_VERSION": "0.5.9", "SGLANG_PREFLIGHT": "0", "SGLANG_RUNTIME_CACHE": str(tmp_path / "cache"),
           "SGLANG_MODEL_ENV_FILE": str(tmp_path / "none.env")}
    return subprocess.run([SERVE], env=env, capture_output=True, timeout=timeout)


REPLAY = f"""import sys, time
for line in open({str(LOG)!r}, "rb").read().split(b"\\n"):
    sys.stdout.buffer.write(line + b"\\n"); sys.stdout.flush(); time.sleep(0.002)
"""


def test_the_service_output_is_the_server_output_plus_one_plain_line_per_phase(tmp_path):
    first = _serve(tmp_path, _stand_in(tmp_path, REPLAY))
    assert first.returncode == 0
    out = first.stdout.decode()
    ours = [line for line in out.splitlines() if line.startswith("[") and "s] " in line[:12]]
    assert [line.split("phase: ")[1].split(" (")[0].split(" 1/")[0] for line in ours if "phase: " in line] == \
        [phases.describe(phases.Event(p)) for p in phases.CPU_PHASES]
    assert "start-up report: ready after" in ours[-1]
    # Every byte of the server's output is there, in order, in whole lines.
    server_lines = LOG.read_bytes().decode("utf-8", "replace").split("\n")
    relayed = [line for line in out.split("\n") if line not in ours]
    assert [line for line in relayed if line in server_lines][:len(server_lines) - 5] == server_lines[:len(server_lines) - 5]
    assert "\r" not in "".join(ours)
    entry = json.loads((tmp_path / "cache" / startup_report.REPORT).read_text())["starts"]
    assert [e["result"] for v in entry.values() for e in v] == ["ready"]

    second = _serve(tmp_path, _stand_in(tmp_path, REPLAY)).stdout.decode()
    assert "(last start " in second.splitlines()[0]  # the estimate comes from the first start


def test_a_server_that_dies_early_is_recorded_and_its_output_kept(tmp_path):
    body = "import sys\nprint('[2026-12-05 08:48:52] server_args=ServerArgs(...)')\nprint('Traceback: boom', file=sys.stderr)\nsys.exit(3)\n"
    done = _serve(tmp_path, _stand_in(tmp_path, body))
    assert done.returncode == 3
    assert b"Traceback: boom" in done.stdout and b"phase: server arguments parsed" in done.stdout
    starts = json.loads((tmp_path / "cache" / startup_report.REPORT).read_text())["starts"]
    assert [e["result"] for v in starts.values() for e in v] == ["exited"]


def test_the_relay_outlives_a_stop_signal_and_a_closed_output(tmp_path):
    """SIGTERM to the group must not kill the relay while the server still writes; a reader that goes
    away must not make the server's writes fail."""
    body = ("import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: None)\n"
            "print('[t] Load weight begin.', flush=True)\ntime.sleep(1.5)\n"
            "print('draining after SIGTERM', flush=True)\n"
            "for i in range(2000): print('x' * 100, flush=True)\nprint('still alive', file=sys.stderr, flush=True)\n"
            "open(sys.argv[0] + '.done', 'w').write('ok')\n")
    python = _stand_in(tmp_path, body)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SGLANG_MODEL": "org/model", "SGLANG_PYTHON": str(python),
           "SGLANG_VERSION": "0.5.9", "SGLANG_PREFLIGHT": "0", "SGLANG_RUNTIME_CACHE": str(tmp_path / "cache"),
           "SGLANG_MODEL_ENV_FILE": str(tmp_path / "none.env")}
    proc = subprocess.Popen([SERVE], env=env, stdout=subprocess.PIPE, start_new_session=True)
    first = proc.stdout.readline()
    time.sleep(0.8)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.stdout.close()  # the service log's reader goes away
    assert proc.wait(30) == 0
    assert first and (Path(str(python) + ".done")).read_text() == "ok"


def test_relay_passes_an_endless_line_on_without_holding_it(tmp_path):
    read_fd, write_fd = os.pipe()
    payload = b"y" * (startup_relay.HOLD * 3) + b"\nThe server is fired up and ready to roll!\n"
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.write(write_fd, payload)
        os._exit(0)
    os.close(write_fd)
    with open(tmp_path / "out", "wb") as fh:
        startup_relay.relay(read_fd, startup_relay._Out(fh.fileno()), None)
    os.waitpid(pid, 0)
    assert (tmp_path / "out").read_bytes() == payload


def test_the_last_lines_arrive_although_the_server_kills_its_children_when_it_exits(tmp_path):
    """SGLang's kill_process_tree SIGKILLs every child it has on the way out: the relay is not one of them."""
    body = ("import os, signal\nprint('[t] Load weight begin.', flush=True)\n"
            "kids = [int(p) for t in os.listdir('/proc/self/task') for p in open(f'/proc/self/task/{t}/children').read().split()]\n"
            "for pid in kids: os.kill(pid, signal.SIGKILL)\n"
            "print(f'killed {len(kids)} children; Application shutdown complete.', flush=True)\n")
    done = _serve(tmp_path, _stand_in(tmp_path, body))
    assert done.returncode == 0
    assert b"killed 0 children; Application shutdown complete." in done.stdout
