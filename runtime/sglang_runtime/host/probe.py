"""Run model_probe.py in the SERVING interpreter: one subprocess, a wall-clock timeout, one JSON object back.

The serving interpreter is SGLANG_PYTHON with the serving PYTHONPATH (the Flox
hook points it at SGLang's closure), so the probe reads the model with the
transformers and SGLang that will serve it. Nothing is downloaded
(HF_HUB_OFFLINE), and every failure — a missing or broken interpreter, a
crash, a timeout, garbage on stdout — comes back as {"ok": false, "error": one line}.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

# Run by path in the serving interpreter, never imported here: it is guest code (standard library only).
SOURCE = Path(__file__).resolve().parents[1] / "guest" / "model_probe.py"
DEFAULT_TIMEOUT_S = 180.0
PROBE_DROPS = ("SGLANG_API_KEY", "SGLANG_API_KEY_FILE", "SGLANG_EXTRA_ARGS", "SGLANG_ARGS_FILE", "HF_TOKEN",
               "HUGGING_FACE_HUB_TOKEN")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run(python: str, env: Mapping[str, str], directory: Path, *, timeout: float = DEFAULT_TIMEOUT_S,
        texts: Sequence[str] = (), chats: Sequence[Any] = ()) -> dict[str, Any]:
    """model_probe.read(directory) as the serving interpreter computes it."""
    # The probe may run the model's own code (trust_remote_code): it reads offline and gets no secret.
    child_env = {k: v for k, v in env.items() if k not in PROBE_DROPS}
    child_env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    options = json.dumps({"texts": list(texts), "chats": list(chats)})
    # -c, not the file's path: a script's own directory would lead sys.path and shadow modules (ours are named
    # files, settings, ...); a neutral cwd keeps the user's working directory off sys.path as well.
    argv = [python, "-c", SOURCE.read_text(encoding="utf-8"), str(directory), options]
    with tempfile.TemporaryDirectory(prefix="sglang-probe-") as cwd:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        except OSError as exc:
            return {"ok": False, "error": f"cannot run {python}: {exc.strerror or exc}"}
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The whole process group: tokenizers and torch may have started helpers.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            return {"ok": False, "error": f"{python} did not finish reading {directory} within {timeout:.0f} s"}
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except ValueError:
                break
            if isinstance(result, dict):
                return result
            break
    why = _last_line(err) or f"exit status {proc.returncode}, no output"
    return {"ok": False, "error": f"{python} could not read {directory}: {why}"}
