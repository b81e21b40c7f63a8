"""The README's no-GPU quickstart, run as a user runs it: one command prints a real answer, then stops cleanly.

`bash scripts/try-on-cpu.sh` sets up what is missing (here: nothing, the test command already
built .venv, the SGLang 0.5.23 folders and the SmolLM2 bundle), starts SGLang 0.5.23 through
the Flox service command with the named CPU stand-in for sgl_kernel, waits, and asks a question.
"""

from __future__ import annotations

import os
import subprocess

from serving import REPO, free_port


def test_one_command_from_a_clone_to_a_right_answer_and_a_clean_stop(tmp_path, smol_bundles):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8", "SGLANG_PORT": str(free_port()),
           "TRY_ON_CPU_DIR": str(tmp_path / "state")}
    try:
        run = subprocess.run(["bash", str(REPO / "scripts" / "try-on-cpu.sh")], env=env, capture_output=True,
                             text=True, timeout=900)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "The capital of France is Paris." in run.stdout
        assert "bash scripts/try-on-cpu.sh stop" in run.stdout and "stand-in" in run.stdout
        again = subprocess.run(["bash", str(REPO / "scripts" / "try-on-cpu.sh")], env=env, capture_output=True,
                               text=True, timeout=60)
        assert again.returncode == 3 and "already running" in again.stderr
    finally:
        stop = subprocess.run(["bash", str(REPO / "scripts" / "try-on-cpu.sh"), "stop"], env=env, capture_output=True,
                              text=True, timeout=60)
    assert "stopped the server" in stop.stdout
