"""`query`: one chat completion against a real HTTP peer on 127.0.0.1 that speaks SGLang's
OpenAI shapes (tests/sglang_peer.py stands in for SGLang, which needs a GPU)."""

from __future__ import annotations

import json

import pytest

from sglang_runtime.operate import query
from sglang_peer import Peer, free_port


def test_plain_completion_uses_the_listed_model_and_reads_reasoning():
    with Peer(model="openai/gpt-oss-20b") as peer:
        answer = query.chat(peer.url, "Say hello")
    assert answer.model == "openai/gpt-oss-20b"
    assert answer.content == "Hello there!"
    assert answer.reasoning == "The user greets; answer briefly."
    assert answer.finish_reason == "stop"
    assert answer.ttft is None and answer.total > 0
    posted = [b for m, p, b in peer.requests if m == "POST"]
    assert posted[0]["model"] == "openai/gpt-oss-20b"  # discovered from /v1/models
    assert posted[0]["messages"] == [{"role": "user", "content": "Say hello"}]
    assert answer.raw["object"] == "chat.completion"


def test_second_identical_prompt_reports_cached_prompt_tokens():
    with Peer() as peer:
        first = query.chat(peer.url, "a long shared system prompt " * 10)
        second = query.chat(peer.url, "a long shared system prompt " * 10)
    assert first.cached_tokens == 0
    assert second.cached_tokens == second.prompt_tokens - 1 > 0


def test_stream_assembles_deltas_and_times_first_token():
    with Peer(token_delay=0.05) as peer:
        answer = query.chat(peer.url, "Say hello", stream=True)
    assert answer.content == "Hello there!"
    assert answer.reasoning == "The user greets; answer briefly."
    assert answer.prompt_tokens and answer.completion_tokens == 7
    assert answer.cached_tokens == 0
    # First token after one delay, the whole stream after seven (5 reasoning + 2 answer words).
    assert 0.04 <= answer.ttft < answer.total
    assert answer.total >= 0.3
    chunks = answer.raw
    assert chunks[-1]["choices"] == [] and "usage" in chunks[-1]
    posted = [b for m, p, b in peer.requests if m == "POST"][0]
    assert posted["stream"] is True and posted["stream_options"] == {"include_usage": True}


def test_api_key_is_required_and_sent():
    with Peer(api_key="sk-abc") as peer:
        with pytest.raises(query.QueryError, match="HTTP 401.*API key"):
            query.chat(peer.url, "hi")
        answer = query.chat(peer.url, "hi", api_key="sk-abc")
    assert answer.content == "Hello there!"


def test_no_server_is_one_clear_error():
    with pytest.raises(query.QueryError, match="cannot connect"):
        query.chat(f"http://127.0.0.1:{free_port()}", "hi")


def test_explicit_model_skips_discovery_and_a_wrong_one_is_reported():
    with Peer(model="m1") as peer:
        with pytest.raises(query.QueryError, match="HTTP 400.*not served"):
            query.chat(peer.url, "hi", model="other")
    assert all(p != "/v1/models" for _, p, _ in peer.requests)


def test_sse_parser_ignores_comments_and_stops_at_done():
    lines = [": keep-alive", "", 'data: {"a": 1}', "event: x", 'data: {"b": 2}', "data: [DONE]", 'data: {"c": 3}']
    assert list(query.sse_events(lines)) == [{"a": 1}, {"b": 2}]


def test_stream_error_chunk_is_raised():
    with pytest.raises(query.QueryError, match="server error"):
        query.fold_chunks([{"error": {"message": "boom"}}], "m", 0.0, lambda: 1.0)


def _cli(*args, env_extra=None):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")}
    env.update(env_extra or {})
    return subprocess.run([str(Path(sys.executable).parent / "sglang-runtime"), "query", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_query_prints_reasoning_answer_and_stats():
    with Peer(api_key="sk-query-key") as peer:
        env = {"SGLANG_PORT": str(peer.port), "SGLANG_API_KEY": "sk-query-key"}
        _cli("same prompt twice", env_extra=env)
        proc = _cli("same prompt twice", "--stream", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["## reasoning", "The user greets; answer briefly.", "", "## answer", "Hello there!"]
    assert "from the prefix cache" in proc.stderr and "first token" in proc.stderr
    cached = int(proc.stderr.split("(")[1].split(" from the prefix cache")[0])
    assert cached > 0


def test_cli_query_json_and_failure_exit():
    with Peer() as peer:
        proc = _cli("hi", "--json", "--url", peer.url)
    assert json.loads(proc.stdout)["choices"][0]["message"]["content"] == "Hello there!"
    down = _cli("hi", "--url", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1 and "cannot connect" in down.stderr
