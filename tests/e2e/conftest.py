"""The real-server tier's fixtures, all in one place: the models it serves, the servers, and what it measures.

A server fixture is module-scoped and parametrized by release: pytest finishes one release's server
before it starts the next, so two SGLang servers never run at once (an idle one busy-loops on a core).
The helpers they use are in serving.py, beside this file. tests/e2e is a package (its __init__.py) so
that this conftest and tests/conftest.py do not share the module name `conftest`: the unit tests
import their helpers `from conftest import ...`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the tier's modules import `serving` by that name

from serving import (ADMIN_KEY, API_KEY, EXTRA_ARGS, REPO, RUNS, SMOL_ID, TINY_ID, VERSIONS, Server,  # noqa: E402
                     bundle, free_port, pythonpath, server_env)

MEASURED: dict[str, dict] = {}


@pytest.fixture(scope="session")
def measured() -> dict[str, dict]:
    """Timings the tier records (ready, SIGTERM, crash-to-exit), printed at the end of the run."""
    return MEASURED


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("real-server tier: measured")
        for name, values in MEASURED.items():
            terminalreporter.write_line(f"{name}: {json.dumps(values, sort_keys=True)}")


@pytest.fixture(scope="session")
def reference() -> dict:
    """Answers of the first release served (0.5.23), which the next (0.5.9) must reproduce."""
    return {}


# ---------------------------------------------------------------- the models served

@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama saved by transformers 5 (SGLang 0.5.23's pin): TokenizersBackend,
    extra special tokens as a list, RoPE base 500000 inside rope_parameters."""
    out = tmp_path_factory.mktemp("tiny-model") / "snapshot"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "PYTHONPATH", "HF_"))}
    env.update(PYTHONPATH=pythonpath("0.5.23"), HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("make_tiny_model.py")), str(out)],
                          env=env, capture_output=True, text=True, timeout=600, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def smol_bundles() -> dict[str, Path]:
    """SmolLM2-135M-Instruct as Flox bundles (FLOX_ENV roots): converted by transformers 4.57 ("v4"),
    and the same weights re-saved by transformers 5 ("v5"). Built once, cached in .cache/models."""
    roots = {"v4": REPO / ".cache" / "models" / "smollm2", "v5": REPO / ".cache" / "models" / "smollm2-v5"}
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build-smollm2-bundle.py"), "--out", str(roots["v4"]),
                           "--v5-out", str(roots["v5"])], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return roots


# ---------------------------------------------------------------- the servers (module scope: one at a time)

@pytest.fixture(scope="module", params=VERSIONS)
def tiny(request, tmp_path_factory, tiny_model, measured):
    """The tiny model served by each release with an API key file, an admin key, cache report and metrics."""
    version = request.param
    home = tmp_path_factory.mktemp(f"tiny-{version}")
    flox_env = home / "flox-env"
    snapshot = bundle(flox_env, TINY_ID, tiny_model)
    key_file = home / "api-key"
    key_file.write_text(API_KEY + "\n")  # as `echo KEY > file` writes it
    port = free_port()
    env = server_env(version, home, flox_env, TINY_ID, port, SGLANG_API_KEY_FILE=str(key_file),
                     SGLANG_EXTRA_ARGS=f"{EXTRA_ARGS} --admin-api-key={shlex.quote(ADMIN_KEY)}",
                     SGLANG_ENABLE_CACHE_REPORT="1", SGLANG_ENABLE_METRICS="1")
    server = Server(version, port, home / "server.log", env).start()
    waited = server.wait_ready()
    server.snapshot = snapshot
    server.waited = waited
    if waited.returncode != 0:
        server.stop()
        pytest.fail(f"sglang {version} did not become ready:\n{waited.stderr[-3000:]}")
    measured.setdefault(f"tiny {version}", {})["ready_s"] = round(server.ready_after, 1)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=RUNS, ids=[f"{v}-{c}" for v, c in RUNS])
def smol(request, tmp_path_factory, smol_bundles, measured):
    """SmolLM2 served by each (release, checkpoint) of RUNS, with cache report."""
    version, checkpoint = request.param
    home = tmp_path_factory.mktemp(f"smol-{version}-{checkpoint}")
    port = free_port()
    env = server_env(version, home, smol_bundles[checkpoint], SMOL_ID, port, SGLANG_ENABLE_CACHE_REPORT="1")
    server = Server(version, port, home / "server.log", env).start()
    waited = server.wait_ready()
    if waited.returncode != 0:
        server.stop()
        pytest.fail(f"sglang {version} ({checkpoint}) did not become ready:\n{waited.stderr[-3000:]}")
    server.checkpoint = checkpoint
    measured.setdefault(f"smollm2 {version} {checkpoint}", {})["ready_s"] = round(server.ready_after, 1)
    yield server
    stopped = server.stop()
    measured[f"smollm2 {version} {checkpoint}"]["sigterm_s"] = round(stopped or -1, 1)
