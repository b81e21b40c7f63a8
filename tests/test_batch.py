"""`sglang-runtime batch` against stand-in servers on real sockets (tests/batch_peer.py): the failures a
real SGLang server does not produce on demand (503, 429, dropped connections, dying half-way, hostile
answers). The real CLI runs as a subprocess; the crash/resume property runs the runner in-process.
The same command against real SGLang: tests/e2e/test_real_model.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_peer import BatchPeer, batch_lines
from conftest import BIN, clean_env

from sglang_runtime.operate import batch, batch_format, batch_http


def _cli(*args, stdin=None, timeout=60, **env):
    return subprocess.run([str(BIN / "sglang-runtime"), "batch", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout, env=clean_env(**env))


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_id(records):
    return {r["custom_id"]: r for r in records}


# ---------------------------------------------------------------- input validation, before anything is sent

BAD = [
    ("not json", "not JSON"),
    ('["a list"]', "expected an object"),
    ('{"custom_id": "x", "method": "POST", "body": {}}', "missing url"),
    ('{"custom_id": "", "method": "POST", "url": "/v1/completions", "body": {}}', "non-empty string"),
    ('{"custom_id": "x", "method": "GET", "url": "/v1/completions", "body": {}}', 'expected "POST"'),
    ('{"custom_id": "x", "method": "POST", "url": "/generate", "body": {}}', "expected one of /v1/chat/completions"),
    ('{"custom_id": "x", "method": "POST", "url": "/v1/completions", "body": "hi"}', "expected a JSON object"),
    ('{"custom_id": "x", "method": "POST", "url": "/v1/completions", "body": {"stream": true}}', "not streams"),
]


@pytest.mark.parametrize("line, says", BAD)
def test_a_bad_line_is_named_with_its_reason(line, says):
    parsed = batch_format.parse_line(line, 7)
    assert isinstance(parsed, batch_format.BadLine) and parsed.line == 7 and says in parsed.reason


def test_bad_lines_are_reported_by_number_and_nothing_is_sent(tmp_path):
    good = batch_lines(3)
    lines = [good[0], "{oops", good[1], good[0], '{"custom_id": "z", "method": "POST", "url": "/v1/x", "body": {}}', good[2]]
    inp = _write(tmp_path / "in.jsonl", lines)
    with BatchPeer() as peer:
        checked = _cli(str(inp), "--check")
        sent = _cli(str(inp), "-o", str(tmp_path / "out.jsonl"), "--url", peer.url)
        assert peer.attempts == {}
    for proc in (checked, sent):
        assert proc.returncode == 2, proc.stderr
        assert f"{inp}:2: not JSON" in proc.stderr
        assert f'{inp}:4: custom_id "p-0" repeats line 1' in proc.stderr
        assert f"{inp}:5: url" in proc.stderr
        assert "3 bad lines" in proc.stderr and "nothing was sent" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()
    ok = _cli(str(_write(tmp_path / "good.jsonl", good)), "--check")
    assert ok.returncode == 0 and "3 requests, every line valid" in ok.stderr


def test_a_bad_line_on_stdin_stops_the_input_there(tmp_path):
    lines = batch_lines(4)
    lines.insert(2, "{broken")
    with BatchPeer() as peer:
        proc = _cli("-", "-o", "-", "--url", peer.url, "--concurrency", "1", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 2 and "stdin:3: not JSON" in proc.stderr and "the rest was not sent" in proc.stderr
    assert sorted(peer.answered) == ["p 0", "p 1"]


def test_options_and_unreachable_servers_are_one_line(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(2))
    missing = _cli(str(inp))
    assert missing.returncode == 2 and "--output=None: expected a file for the results" in missing.stderr
    same = _cli(str(inp), "-o", str(inp))
    assert same.returncode == 2 and "expected a file other than the input" in same.stderr
    url = _cli(str(inp), "-o", str(tmp_path / "o.jsonl"), "--url", "ftp://x")
    assert url.returncode == 2 and "--url='ftp://x'" in url.stderr
    nowhere = _cli(str(inp), "-o", str(tmp_path / "o.jsonl"), "--url", "http://127.0.0.1:9",
                   SGLANG_API_KEY="sk-very-secret-key")
    assert nowhere.returncode == 1 and "cannot connect to http://127.0.0.1:9" in nowhere.stderr
    assert not (tmp_path / "o.jsonl").exists()
    for proc in (missing, same, url, nowhere):
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert "sk-very-secret-key" not in proc.stderr + proc.stdout


# ---------------------------------------------------------------- retries

def test_503_then_200_is_retried_and_429_waits_for_retry_after(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(4))
    out = tmp_path / "out.jsonl"
    with BatchPeer(script={"p 1": ["503", "503"], "p 2": ["429:1"], "p 3": ["drop"]}) as peer:
        proc = _cli(str(inp), "-o", str(out), "--url", peer.url, "--json")
    assert proc.returncode == 0, proc.stderr
    records = _by_id(_records(out))
    assert sorted(records) == ["p-0", "p-1", "p-2", "p-3"]
    for r in records.values():
        assert r["error"] is None and r["response"]["status_code"] == 200
        assert r["response"]["body"]["choices"][0]["message"]["content"] == "echo: " + r["custom_id"].replace("-", " ")
    assert [len(peer.attempts[p]) for p in ("p 0", "p 1", "p 2", "p 3")] == [1, 3, 2, 2]
    first, second = peer.attempts["p 2"]
    assert second - first >= 0.95  # Retry-After: 1
    summary = json.loads(proc.stdout)
    assert summary["by_status"] == {"200": 4} and summary["retries"] == 4 and summary["failed"] == 0


def test_retries_are_bounded_then_the_line_gets_its_error_and_the_run_goes_on(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(3))
    out = tmp_path / "out.jsonl"
    with BatchPeer(script={"p 1": ["503"] * 10}) as peer:
        proc = _cli(str(inp), "-o", str(out), "--url", peer.url, "--retries", "2")
    assert proc.returncode == 1 and "1 of 3 requests did not succeed" in proc.stderr
    assert len(peer.attempts["p 1"]) == 3
    records = _by_id(_records(out))
    assert records["p-1"]["response"]["status_code"] == 503 and records["p-1"]["response"]["body"]["message"] == "overloaded"
    assert records["p-0"]["response"]["status_code"] == records["p-2"]["response"]["status_code"] == 200


def test_backoff_grows_with_jitter_and_retry_after_reads_both_forms():
    policy = batch_http.Policy(backoff=1.0, max_wait=8.0)
    assert [batch_http.backoff(a, policy, rand=lambda: 0.0) for a in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [batch_http.backoff(a, policy, rand=lambda: 1.0) for a in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert batch_http.retry_after("7", 0) == 7.0
    assert batch_http.retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480.0) == 10.0
    assert batch_http.retry_after("soon", 0) is None and batch_http.retry_after(None, 0) is None


# ---------------------------------------------------------------- never loses work

def test_a_server_that_dies_half_way_then_resume_finishes_the_rest_exactly_once(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(20))
    out = tmp_path / "out.jsonl"
    with BatchPeer(die_after=10, delay=0.02) as dying:
        first = _cli(str(inp), "-o", str(out), "--url", dying.url, "--retries", "1", "--concurrency", "4")
    assert first.returncode == 1
    outcomes = Counter(batch_format.outcome(r) for r in _records(out))
    assert outcomes["200"] == 10 and outcomes["connection_error"] == 10, outcomes
    with BatchPeer() as again:
        second = _cli(str(inp), "-o", str(out), "--url", again.url, "--json")
    assert second.returncode == 0, second.stderr
    assert "resuming: 10 already in" in second.stderr and "10 failed results sent again" in second.stderr
    records = _records(out)
    assert sorted(r["custom_id"] for r in records) == sorted(f"p-{i}" for i in range(20))
    assert all(r["response"]["status_code"] == 200 for r in records)
    assert sorted(again.answered + dying.answered) == sorted(f"p {i}" for i in range(20))
    assert json.loads(second.stdout)["skipped_already_done"] == 10


def _ctrl_c_delivered() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and Python keeps an ignored
    # SIGINT ignored: under `.ci/run &` the batch would never see the Ctrl-C this test sends. A terminal's would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_flushes_whole_lines_exits_130_and_resume_completes(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(30))
    out = tmp_path / "out.jsonl"
    with BatchPeer(delay=0.3) as peer:
        proc = subprocess.Popen([str(BIN / "sglang-runtime"), "batch", str(inp), "-o", str(out), "--url", peer.url,
                                 "--concurrency", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=clean_env(), preexec_fn=_ctrl_c_delivered)
        deadline = time.monotonic() + 30
        while (not out.exists() or len(out.read_text().splitlines()) < 4) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted:" in err and "run the same command again to resume" in err and "Traceback" not in err
        text = out.read_text()
        assert text.endswith("\n")
        written = [r["custom_id"] for r in _records(out)]
        assert 4 <= len(written) < 30
        done = _cli(str(inp), "-o", str(out), "--url", peer.url)
    assert done.returncode == 0, done.stderr
    assert sorted(r["custom_id"] for r in _records(out)) == sorted(f"p-{i}" for i in range(30))


def test_a_line_cut_short_by_a_crash_is_sent_again(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(3))
    out = tmp_path / "out.jsonl"
    with BatchPeer() as peer:
        assert _cli(str(inp), "-o", str(out), "--url", peer.url, "--concurrency", "1").returncode == 0
        lines = out.read_text().splitlines()
        out.write_text(lines[0] + "\n" + lines[1][:40])  # the crash came mid-write
        again = _cli(str(inp), "-o", str(out), "--url", peer.url)
        garbage = tmp_path / "not-output.jsonl"
        garbage.write_text("hello\n")
        refused = _cli(str(inp), "-o", str(garbage), "--url", peer.url)
    assert again.returncode == 0
    assert sorted(r["custom_id"] for r in _records(out)) == ["p-0", "p-1", "p-2"]
    assert refused.returncode == 2 and f"{garbage}:1 is not a batch output record" in refused.stderr


@pytest.fixture(scope="module")
def steady_peer():
    with BatchPeer() as peer:
        yield peer


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(crashes=st.lists(st.tuples(st.integers(0, 12), st.booleans()), max_size=5),
       concurrency=st.integers(1, 4))
def test_any_interleaving_of_crash_and_resume_yields_each_custom_id_once(steady_peer, tmp_path_factory, crashes, concurrency):
    inp = [batch_format.parse_line(line, n) for n, line in enumerate(batch_lines(12), 1)]
    out = tmp_path_factory.mktemp("crash") / "out.jsonl"
    for stop_after, torn in crashes + [(None, False)]:
        done, _ = batch.prepare_output(str(out))
        with open(out, "ab") as f:
            runner = batch.Runner(steady_peer.url, None, concurrency, f, limit=stop_after)
            runner.run([r for r in inp if r.custom_id not in done])
            if torn:
                f.write(b'{"id": "batch_req_torn", "custom_id": "p-')  # killed in the middle of a write
    ids = [r["custom_id"] for r in _records(out)]
    assert sorted(ids) == sorted(r.custom_id for r in inp)


# ---------------------------------------------------------------- speed bound, hostile peers

def test_a_slow_server_never_sees_more_than_concurrency_requests(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(16))
    with BatchPeer(delay=0.15) as peer:
        proc = _cli(str(inp), "-o", str(tmp_path / "out.jsonl"), "--url", peer.url, "--concurrency", "3")
    assert proc.returncode == 0 and peer.max_in_flight == 3


def test_default_concurrency_is_the_servers_max_running_requests(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(12))
    with BatchPeer(delay=0.1, max_running=5) as told, BatchPeer(delay=0.05) as silent:
        a = _cli(str(inp), "-o", str(tmp_path / "a.jsonl"), "--url", told.url)
        b = _cli(str(inp), "-o", str(tmp_path / "b.jsonl"), "--url", silent.url)
    assert "concurrency 5 (from the server's max_running_requests (5))" in a.stderr and told.max_in_flight == 5
    assert f"concurrency {batch.DEFAULT_CONCURRENCY} (from the default" in b.stderr


def test_server_concurrency_reads_both_sglang_shapes():
    assert batch.server_concurrency({"max_running_requests": 48}) == 48
    # 0.5.9 and 0.5.23: unset in server_args, the scheduler's own number per data-parallel rank.
    info = {"max_running_requests": None, "dp_size": 2, "internal_states": [{"effective_max_running_requests_per_dp": 96}]}
    assert batch.server_concurrency(info) == 192
    assert batch.server_concurrency({"max_running_requests": True}) is None and batch.server_concurrency("x") is None


def test_hostile_answers_become_errors_and_never_reach_the_terminal_raw(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(4))
    out = tmp_path / "out.jsonl"
    with BatchPeer(script={"p 1": ["html"], "p 2": ["huge"], "p 3": ["trickle"]}) as peer:
        started = time.monotonic()
        proc = _cli(str(inp), "-o", str(out), "--url", peer.url, "--retries", "0", "--request-timeout", "1")
        took = time.monotonic() - started
    assert proc.returncode == 1
    records = _by_id(_records(out))
    assert records["p-0"]["response"]["status_code"] == 200
    assert records["p-1"]["error"]["code"] == "invalid_response" and records["p-1"]["response"]["status_code"] == 200
    assert records["p-2"]["error"]["code"] == "response_too_large"
    assert records["p-3"]["error"]["code"] == "timeout" and took < 15
    raw = out.read_text()
    assert "\x1b" not in raw and "\x07" not in raw and "\x1b" not in proc.stderr + proc.stdout
    assert os.path.getsize(out) < 10_000  # the 64 MiB body was cut off, not stored


def test_stdin_to_stdout_and_bodies_without_a_model_get_the_servers(tmp_path):
    lines = [json.dumps({"custom_id": "c", "method": "POST", "url": "/v1/completions", "body": {"prompt": "once"}}),
             json.dumps({"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x", "model": "m2"}})]
    with BatchPeer(model="served/model") as peer:
        proc = _cli("-", "-o", "-", "--url", peer.url, "--json", stdin="\n".join(lines))
    assert proc.returncode == 0, proc.stderr
    records = _by_id(json.loads(line) for line in proc.stdout.splitlines())
    assert records["c"]["response"]["body"]["model"] == "served/model"
    assert records["e"]["response"]["body"]["model"] == "m2"
    assert set(records["c"]) == {"id", "custom_id", "response", "error"} and records["c"]["id"].startswith("batch_req_")
    assert set(records["c"]["response"]) == {"status_code", "request_id", "body"}
    assert '"requests": 2' in proc.stderr  # the summary goes to stderr when the results use stdout


def test_an_output_that_cannot_be_written_ends_the_run_in_one_line(tmp_path):
    inp = _write(tmp_path / "in.jsonl", batch_lines(5))
    with BatchPeer() as peer:
        proc = _cli(str(inp), "-o", "/dev/full", "--url", peer.url, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write /dev/full: No space left on device" in proc.stderr and "Traceback" not in proc.stderr
