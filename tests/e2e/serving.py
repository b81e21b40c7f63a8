"""Real SGLang servers started through the Flox service command, on the CPU, for the end-to-end tier.

Everything is real — SGLang (0.5.9 and 0.5.23 from PyPI), its scheduler,
tokenizer manager, HTTP stack and model code, our launcher, the service
command read from .flox/env/manifest.toml and run by bash as Flox runs it —
but one thing: PyPI has no CPU build of `sgl_kernel`, so the server's
PYTHONPATH starts with cpu/standin, a STAND-IN package that defines only the
names SGLang imports at load time and raises if any is called.

The serving interpreter is the test venv's Python (it has torch 2.14.1); the
release is chosen by PYTHONPATH, as the Flox hook chooses it from the Nix closure:
    cpu/standin : .cache/sglang-VERSION (scripts/install-sglang.sh) : .cache/serve-VERSION (scripts/install-serving.sh)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STANDIN = REPO / "cpu" / "standin"
VERSIONS = ("0.5.23", "0.5.9")  # 0.5.23 first: 0.5.9's answers are compared with it
EXTRA_ARGS = "--device cpu --max-total-tokens 4096"
API_KEY = "sk-e2e.K3y/with+odd*chars(1)"    # regex-special characters on purpose
ADMIN_KEY = "adm1n'key\\with\"quotes"        # repr() and JSON escape it: the log must hide every form
SMOL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The (release, checkpoint) runs of the `smol` fixture; 0.5.23 first: what 0.5.9 serves, from either
# checkpoint, must equal its answers.
RUNS = [("0.5.23", "v4"), ("0.5.9", "v4"), ("0.5.9", "v5")]
TINY_ID = "tiny-org/tiny-llama"


class ServingNotInstalled(RuntimeError):
    pass


def service_command() -> str:
    """The [services.sglang].command string, exactly as the manifest has it."""
    with (REPO / ".flox" / "env" / "manifest.toml").open("rb") as fh:
        return tomllib.load(fh)["services"]["sglang"]["command"]


def start_server(env: dict[str, str], out, direct: bool, extra_args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, float]:
    """(process, monotonic start) of a server in its own session, its output to `out`. `direct`: what `sglang-serve`
    would exec — its argv (from a dry run) and its environment changes (compile caches, ...) — run plainly,
    without the launcher; else the Flox service command. For the benchmarks that compare the two."""
    if direct:
        subprocess.run(["bash", "-c", "sglang-resolve-model"], env=env, check=True, capture_output=True)
        dry = json.loads(subprocess.run(["sglang-serve", "--dry-run", "--json"], env=env, check=True,
                                        capture_output=True, text=True).stdout)
        command = [*dry["argv"], *extra_args]
        env = {k: v for k, v in {**env, **dry["env"]}.items() if k not in dry["unset"]}
        for name, value in dry["env"].items():
            if name.endswith(("_DIR", "_BASE")):  # the cache folders sglang-serve makes before its exec
                Path(value).mkdir(parents=True, exist_ok=True)
    else:
        command = ["bash", "-c", service_command()]
    began = time.monotonic()
    return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True), began


def pythonpath(version: str) -> str:
    parts = [STANDIN, REPO / ".cache" / f"sglang-{version}", REPO / ".cache" / f"serve-{version}"]
    for part in parts[1:]:
        if not (part / ".complete").is_file():
            raise ServingNotInstalled(f"{part} is missing: run bash scripts/test.sh (or scripts/install-serving.sh {version} {part})")
    return os.pathsep.join(map(str, parts))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bundle(root: Path, repo_id: str, snapshot: Path) -> Path:
    """Lay `snapshot` out as a Flox bundle under root/share/models/hub (copied, read-only, like a store path)."""
    repo = root / "share" / "models" / "hub" / ("models--" + repo_id.replace("/", "--"))
    sid = "0123456789abcdef0123456789abcdef01234567"
    target = repo / "snapshots" / sid
    if not target.exists():
        shutil.copytree(snapshot, target)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(sid)
        for path in target.iterdir():
            path.chmod(0o444)
    return target


@dataclass
class Server:
    """One service run: `bash -c "$command"` in its own session, output to a log file."""

    version: str
    port: int
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    ready_after: float | None = None
    stopped_after: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> "Server":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("wb")
        self.started = time.monotonic()
        # A session of its own: teardown can end every process the server started.
        self.proc = subprocess.Popen(["bash", "-c", service_command()], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=self.env["HOME"])
        out.close()
        return self

    def cli(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """A launcher command (sglang-runtime ...) with this server's settings."""
        return subprocess.run([str(BIN / "sglang-runtime"), *args], env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)

    def wait_ready(self, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = self.cli("wait", "--pid", str(self.pid), "--log", str(self.log), "--interval", "0.5",
                        "--timeout", str(timeout), timeout=timeout + 30)
        if proc.returncode == 0:
            self.ready_after = time.monotonic() - self.started
        return proc

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> float | None:
        """SIGTERM the server (the service's PID, which exec made the server); seconds until it exited."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        begun = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            self.stopped_after = time.monotonic() - begun
        except subprocess.TimeoutExpired:
            self.notes.append(f"did not exit within {timeout} s of SIGTERM")
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        return self.stopped_after

    def process_tree(self) -> list[int]:
        """PIDs of the server and every descendant, read from /proc."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found


def server_env(version: str, home: Path, flox_env: Path, model: str, port: int, **extra: str) -> dict[str, str]:
    """The environment a user would give the service (see docs/development.md, "The real-server tier")."""
    env = {
        "HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "FLOX_ENV": str(flox_env),
        "FLOX_ENV_CACHE": str(home / "flox-cache"),
        "HF_HOME": str(home / "hf"),
        "PYTHONPATH": pythonpath(version),
        "SGLANG_MODEL": model,
        "SGLANG_PYTHON": sys.executable,
        "SGLANG_HOST": "127.0.0.1",
        "SGLANG_PORT": str(port),
        "SGLANG_EXTRA_ARGS": EXTRA_ARGS,
        "SGLANG_USE_CPU_ENGINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.update(extra)
    return env


def completion(server: Server, key: str | None, **payload) -> tuple[int, dict | str]:
    import httpx2

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx2.post(server.url + "/generate", json=payload, headers=headers, timeout=120)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def get(server: Server, path: str, key: str | None = None, method: str = "GET"):
    import httpx2

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx2.request(method, server.url + path, headers=headers, timeout=60)


def dump(obj) -> str:
    return json.dumps(obj, indent=1)[:2000]
