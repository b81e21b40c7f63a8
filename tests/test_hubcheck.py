"""The Hub check before start, against a STAND-IN Hub on loopback (the real Hub is not reachable here).

The stand-in answers as huggingface.co does for GET /api/models/<id>/revision/<rev>: 200 with the
model's info; 404 with `X-Error-Code: RepoNotFound` or `RevisionNotFound`; 401/403 with
`X-Error-Code: GatedRepo`; 401 "Invalid credentials in Authorization header" for a bad token. It
records every request, which proves that a bundled or cached model makes none. The client side is
real: `sglang-serve` with huggingface_hub, HF_ENDPOINT pointing at the stand-in (tests/standin_http.py).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from conftest import flox_env, lines, no_notice, run_cli, write_cached_repo
from standin_http import QuietHandler, StandIn

GOOD_TOKEN, BAD_TOKEN = "hf_goodtoken123456", "hf_badtoken1234567"


class StandInHub:
    """A few repos with fixed behaviour: ok, missing, gated (readable with GOOD_TOKEN), slow."""

    def __init__(self) -> None:
        class Handler(QuietHandler):  # HTTP/1.0, as before: one request per connection
            def _send(self, status: int, body: dict, code: str | None = None) -> None:
                self.send_json(status, body, {"X-Error-Code": code, "X-Error-Message": body.get("error", "")} if code else None)

            def do_GET(self):
                auth = self.headers.get("Authorization")
                parts = self.path.split("?")[0].split("/")
                # /api/models/<org>/<name>[/revision/<rev>]
                repo = "/".join(parts[3:5])
                revision = parts[6] if len(parts) > 6 else "main"
                if auth == f"Bearer {BAD_TOKEN}":
                    return self._send(401, {"error": "Invalid credentials in Authorization header"})
                if repo == "org/slow":
                    time.sleep(30)
                if repo == "org/gated" and auth != f"Bearer {GOOD_TOKEN}":
                    return self._send(401 if auth is None else 403,
                                      {"error": "Access to model org/gated is restricted."}, "GatedRepo")
                if repo not in ("org/ok", "org/gated"):
                    return self._send(404, {"error": "Repository not found"}, "RepoNotFound")
                if revision not in ("main", "v1"):
                    return self._send(404, {"error": "Invalid rev id: " + revision}, "RevisionNotFound")
                return self._send(200, {"id": repo, "modelId": repo, "sha": "1" * 40, "siblings": []})

        self.http = StandIn(Handler, record=True)
        self.url = self.http.url

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        """(path, Authorization header) of every request, in order."""
        return [(r.path, r.headers.get("Authorization")) for r in self.http.requests]

    def __enter__(self) -> "StandInHub":
        self.http.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()


@pytest.fixture
def hub():
    with StandInHub() as running:
        yield running


def _serve(flox, tmp_path, hub_url, model, **extra):
    """sglang-serve for real (preflight on), with a stand-in serving interpreter that records its argv."""
    fake = tmp_path / "bin" / "python3.12"
    fake.parent.mkdir(exist_ok=True)
    record = tmp_path / "started.json"
    fake.write_text(f"#!/usr/bin/env python3\nimport json, sys\njson.dump(sys.argv, open({str(record)!r}, 'w'))\n")
    fake.chmod(0o755)
    (tmp_path / "site" / "sglang-0.5.9.dist-info").mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = flox_env(flox, SGLANG_MODEL=model, SGLANG_HOST="127.0.0.1", SGLANG_PORT=str(port), HF_ENDPOINT=hub_url,
                   PYTHONPATH=str(tmp_path / "site"), HF_HOME=str(tmp_path / "hf-home"), **extra)
    env["PATH"] = f"{fake.parent}:{env['PATH']}"
    del env["SGLANG_VERSION"]
    proc = run_cli("sglang-serve", env=env)
    return proc, record.exists()


def test_a_model_the_hub_has_starts_after_one_request(flox, tmp_path, hub):
    proc, started = _serve(flox, tmp_path, hub.url, "org/ok")
    assert proc.returncode == 0 and started, proc.stderr
    # (huggingface_hub 2.x also fetches /api/agent-harnesses once a day for its user agent.)
    assert [path for path, _ in hub.requests if path.startswith("/api/models")] == ["/api/models/org/ok/revision/main"]


@pytest.mark.parametrize("model, extra, rc, says", [
    ("org/missing", {}, 2, "SGLANG_MODEL='org/missing': expected a model the Hub has (none at"),
    ("org/gated", {}, 2, "gated on the Hub and no HF_TOKEN is set"),
    ("org/gated", {"HF_TOKEN": "hf_someoneelse12345"}, 2, "HF_TOKEN's account has no access yet"),
    ("org/ok", {"HF_TOKEN": BAD_TOKEN}, 2, "HF_TOKEN='***': expected a token the Hub accepts"),
    ("org/ok", {"SGLANG_MODEL_REVISION": "v9"}, 2, "SGLANG_MODEL_REVISION='v9': expected a branch, tag or commit"),
])
def test_refusals_are_one_line_before_sglang_starts(flox, tmp_path, hub, model, extra, rc, says):
    proc, started = _serve(flox, tmp_path, hub.url, model, **extra)
    message = no_notice(lines(proc.stderr))
    assert proc.returncode == rc and not started
    assert len(message) == 1 and says in message[0], proc.stderr
    for secret in (BAD_TOKEN, "hf_someoneelse12345"):
        assert secret not in proc.stderr


def test_the_gated_model_starts_with_a_token_that_may_read_it(flox, tmp_path, hub):
    proc, started = _serve(flox, tmp_path, hub.url, "org/gated", HF_TOKEN=GOOD_TOKEN)
    assert proc.returncode == 0 and started, proc.stderr
    assert [auth for path, auth in hub.requests if path.startswith("/api/models")] == [f"Bearer {GOOD_TOKEN}"]


def test_an_unreachable_or_silent_hub_is_exit_3_within_the_wall_clock_timeout(flox, tmp_path, hub):
    begun = time.monotonic()
    proc, started = _serve(flox, tmp_path, hub.url, "org/slow")
    took = time.monotonic() - begun
    assert proc.returncode == 3 and not started
    assert "cannot reach the Hub" in proc.stderr and "SGLANG_HUB_CHECK=0" in proc.stderr
    assert took < 25  # the stand-in would have answered after 30 s
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    proc, started = _serve(flox, tmp_path, dead, "org/ok")
    assert proc.returncode == 3 and "cannot reach the Hub" in proc.stderr


def test_bundled_cached_offline_or_skipped_models_make_no_request(flox, tmp_path, hub):
    write_cached_repo(flox["hub"], "org/bundled")
    for model, extra in (("org/bundled", {}), ("org/missing", {"HF_HUB_OFFLINE": "1"}),
                         ("org/missing", {"SGLANG_HUB_CHECK": "0"})):
        run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL=model, **extra))
        _serve(flox, tmp_path, hub.url, model, **extra)
    cached = tmp_path / "hf-cache"
    write_cached_repo(cached, "org/cached")
    run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL="org/cached", HF_HUB_CACHE=str(cached)))
    proc, started = _serve(flox, tmp_path, hub.url, "org/cached", HF_HUB_CACHE=str(cached))
    assert started, proc.stderr
    assert hub.requests == []
