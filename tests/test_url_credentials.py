"""Credentials in URLs are never printed (issue 22, class 6): `--url user:pass@`, HF_ENDPOINT and proxies,
through the real CLI; and the masking rule on generated URLs."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings as hsettings, strategies as st

from conftest import BIN, clean_env, flox_env, run_cli
from sglang_peer import free_port
from sglang_runtime.guest import redact

PASSWORD = "s3cr3t/p@ss:word"


def _run(*args, env=None):
    return subprocess.run([str(BIN / "sglang-runtime"), *args], env=env or clean_env(), capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("command", [["wait", "--timeout", "2", "--interval", "0.2"], ["query", "hi", "--timeout", "2"]])
def test_url_credentials_given_to_url_are_never_printed(command):
    url = f"http://alice:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}"
    proc = _run(*command[:1], *command[1:], "--url", url)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "127.0.0.1" in out or "cannot connect" in out
    for form in (PASSWORD, quote(PASSWORD, safe=""), "alice:"):
        assert form not in out, out


@pytest.mark.parametrize("variable", ["HF_ENDPOINT", "HTTPS_PROXY", "HTTP_PROXY", "https_proxy"])
def test_hub_and_proxy_credentials_are_never_printed(flox, tmp_path, variable):
    site = tmp_path / "site"
    (site / "sglang-0.5.9.dist-info").mkdir(parents=True)
    secret_url = f"http://bob:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}"
    env = flox_env(flox, SGLANG_MODEL="org/not-on-disk", SGLANG_PYTHON=sys.executable, PYTHONPATH=str(site),
                   SGLANG_PORT=str(free_port()), SGLANG_HUB_CHECK="1", HF_HUB_ETAG_TIMEOUT="2")
    env[variable] = secret_url
    if variable != "HF_ENDPOINT":
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
        env.pop("NO_PROXY", None), env.pop("no_proxy", None)
    proc = run_cli("sglang-serve", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3 and "Traceback" not in out, out
    for form in (PASSWORD, quote(PASSWORD, safe=""), "bob:"):
        assert form not in out, out


USERINFO = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="/@"), min_size=1, max_size=40)


@hsettings(max_examples=300, deadline=None)
@given(user=USERINFO, scheme=st.sampled_from(["http", "https", "socks5h", "git+ssh"]), before=st.text(max_size=20))
def test_any_url_userinfo_is_masked(user, scheme, before):
    assume(user != redact.MASK)
    text = f"{before} {scheme}://{user}@host.example:8080/path and more"
    masked = redact.mask(text)
    assert f"{scheme}://***@host.example:8080/path and more" in masked
    assert f"://{user}@" not in masked
