"""REAL SGLang servers (0.5.23, then 0.5.9) started the way Flox starts them, serving a tiny random Llama
that transformers 5 saved. One server at a time; every test below runs against it.

The one stand-in is cpu/standin/sgl_kernel (see serving.py). 0.5.23 serves the snapshot as is;
0.5.9 (transformers 4.57) can only serve it through the launcher's transformers-5 translation.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path


from serving import ADMIN_KEY, API_KEY, TINY_ID, VERSIONS, completion, get
from sglang_runtime.guest import bootstrap, prefetch

PROMPT = "The quick brown fox jumps over the lazy dog. SGLang serves large language models quickly."


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _environ(pid: int) -> dict[str, str]:
    items = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(item.partition("=")[::2] for item in items if "=" in item)


def test_wait_reports_ready_and_how_to_reach_it(tiny):
    assert tiny.waited.returncode == 0
    assert "ready after" in tiny.waited.stderr
    assert f"export OPENAI_BASE_URL=http://127.0.0.1:{tiny.port}/v1" in tiny.waited.stdout
    assert API_KEY not in tiny.waited.stdout + tiny.waited.stderr  # masked unless --show-secrets


def test_the_service_process_became_the_server_and_no_command_line_holds_a_key(tiny):
    argv = _cmdline(tiny.pid)
    # bash exec'd sglang-serve, which exec'd the serving Python running the bootstrap: same PID throughout.
    assert argv[1] == str(Path(bootstrap.__file__).resolve()) and "--model-path" in argv
    for pid in tiny.process_tree():
        try:
            line = "\0".join(_cmdline(pid))
        except OSError:
            continue
        assert API_KEY not in line and "adm1n" not in line, f"a key is on the command line of {pid}"
    assert len(tiny.process_tree()) >= 3  # the server, its scheduler and detokenizer


def test_server_environment_has_no_sglang_port_and_caches_under_the_cache_root(tiny):
    env = _environ(tiny.pid)
    assert "SGLANG_PORT" not in env
    cache = Path(tiny.env["FLOX_ENV_CACHE"])
    for name, sub in (("TRITON_CACHE_DIR", "triton"), ("TORCHINDUCTOR_CACHE_DIR", "torchinductor"),
                      ("FLASHINFER_WORKSPACE_BASE", "flashinfer"), ("SGLANG_CACHE_DIR", "sglang")):
        assert env[name] == str(cache / sub) and (cache / sub).is_dir()
    for pid in tiny.process_tree()[1:]:
        try:
            child = _environ(pid)
        except OSError:
            continue
        assert bootstrap.SECRET_ARGV not in child, "a subprocess inherited the keys"


def test_no_server_process_has_a_key_in_its_environment(tiny):
    """/proc/<pid>/environ keeps the environment a process was exec'd with, whatever it unsets later: the
    keys reach the bootstrap through a pipe, so neither the server nor any descendant ever had them there."""
    checked = 0
    for pid in tiny.process_tree():
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        checked += 1
        for key in (API_KEY, ADMIN_KEY):
            assert key.encode() not in raw, f"a key is in the environment of {pid}"
        assert b"SGLANG_API_KEY=" not in raw and b"SGLANG_EXTRA_ARGS=" not in raw
    assert checked >= 3  # the server, its scheduler and detokenizer
    # The start-up relay is no descendant (SGLang kills its children at exit) but lives as long: empty environment.
    relays = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"sglang_runtime.operate.startup_relay" in Path(f"/proc/{pid}/cmdline").read_bytes():
                relays[pid] = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue  # gone meanwhile
    assert relays and set(relays.values()) == {b""}, relays


def test_health_and_metrics_answer_without_the_key(tiny, measured):
    """Measured, not assumed: SGLang exempts /health* and /metrics from --api-key (docs/security.md;
    k8s/components/network-policy fences them)."""
    open_routes = {path: get(tiny, path).status_code for path in ("/health", "/health_generate", "/metrics")}
    assert open_routes == {"/health": 200, "/health_generate": 200, "/metrics": 200}
    assert "sglang:" in get(tiny, "/metrics").text  # real metrics, not an error page
    assert get(tiny, "/v1/models").status_code == 401  # while the API itself is closed
    measured.setdefault(f"tiny {tiny.version}", {})["open_without_key"] = sorted(open_routes)


def test_the_weights_were_read_ahead_from_the_hand_over(tiny):
    """The launcher's prefetch (docs/performance.md) on a real server: the plan's notice before the hand-over,
    the reader's one line, and no SGLang process that inherited the hand-over."""
    log = tiny.text()
    assert "notice: prefetch: 1 weight file(s), 0.00 GB, read into the page cache from the hand-over" in log
    assert re.search(r"^sglang-runtime prefetch: 1 weight file\(s\): [\d.]+ GB read, [\d.]+ GB already cached, in [\d.]+ s$",
                     log, re.M), log[-3000:]
    for pid in tiny.process_tree()[1:]:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == prefetch.NAME:
                continue  # the reader itself, if still there: forked before the hand-over was taken out
            child = _environ(pid)
        except OSError:
            continue
        assert prefetch.ENV not in child, "an SGLang process inherited the prefetch hand-over"


def test_auth_is_enforced_for_the_api_key_and_the_admin_key(tiny):
    assert get(tiny, "/v1/models").status_code == 401
    assert get(tiny, "/v1/models", key="wrong").status_code == 401
    assert get(tiny, "/v1/models", key=API_KEY).status_code == 200
    # /flush_cache is an admin route: with an admin key configured, only it opens it.
    assert get(tiny, "/flush_cache", key=API_KEY, method="POST").status_code == 401
    assert get(tiny, "/flush_cache", key=ADMIN_KEY, method="POST").status_code == 200


def test_models_lists_the_bundled_id(tiny):
    models = get(tiny, "/v1/models", key=API_KEY).json()
    assert [m["id"] for m in models["data"]] == [TINY_ID]


def test_version_serves_the_right_directory(tiny):
    argv = _cmdline(tiny.pid)
    served = Path(argv[argv.index("--model-path") + 1])
    if tiny.version == "0.5.9":
        # transformers 4.57 cannot read this checkpoint as saved: the translated shadow is served.
        assert served.parent == Path(tiny.env["FLOX_ENV_CACHE"]) / "sglang-compat"
        assert (served / "config.json").read_bytes() != (tiny.snapshot / "config.json").read_bytes()
    else:
        assert served == tiny.snapshot


def test_query_plain_and_streamed(tiny):
    plain = tiny.cli("query", "Say something.", "--max-tokens", "8")
    assert plain.returncode == 0, plain.stderr
    assert "completion tokens" in plain.stderr and TINY_ID in plain.stderr
    streamed = tiny.cli("query", "Say something.", "--max-tokens", "8", "--stream")
    assert streamed.returncode == 0, streamed.stderr
    assert "first token" in streamed.stderr


def test_official_openai_client_chat_and_streamed_chat(tiny):
    from openai import OpenAI

    client = OpenAI(base_url=tiny.url + "/v1", api_key=API_KEY)
    messages = [{"role": "user", "content": "Hello"}]
    chat = client.chat.completions.create(model=TINY_ID, messages=messages, max_tokens=8, temperature=0)
    assert chat.choices[0].message.content and chat.usage.completion_tokens > 0
    pieces = [c.choices[0].delta.content or "" for c in
              client.chat.completions.create(model=TINY_ID, messages=messages, max_tokens=8, temperature=0, stream=True)
              if c.choices]
    assert "".join(pieces) == chat.choices[0].message.content  # temperature 0: the same tokens, streamed


def test_a_repeated_prompt_reports_cached_tokens(tiny):
    from openai import OpenAI

    client = OpenAI(base_url=tiny.url + "/v1", api_key=API_KEY)
    messages = [{"role": "system", "content": PROMPT * 3}, {"role": "user", "content": "Again."}]
    client.chat.completions.create(model=TINY_ID, messages=messages, max_tokens=2)
    second = client.chat.completions.create(model=TINY_ID, messages=messages, max_tokens=2)
    assert second.usage.prompt_tokens_details.cached_tokens > second.usage.prompt_tokens // 2


def test_metrics_serve_the_queue_length(tiny):
    text = get(tiny, "/metrics").text
    assert "sglang:num_queue_reqs" in text


def test_every_metric_the_grafana_dashboard_queries_is_exported(tiny):
    """After the requests above (counters and histograms have samples only once something was served)."""
    from dashboard_support import exported, metric_names

    missing = metric_names() - exported(get(tiny, "/metrics").text)
    assert not missing, f"sglang {tiny.version} does not export {sorted(missing)}"


def test_wait_json_reports_every_cpu_phase_in_order_and_the_service_log_has_the_plain_lines(tiny):
    """No start of its own: `wait --json` reads this server's log from its start; the service's output (the log
    file) carries the relay's plain phase lines, and the report beside the caches holds this start."""
    from sglang_runtime.operate import phases, startup_report

    proc = tiny.cli("wait", "--json", "--log", str(tiny.log), "--pid", str(tiny.pid), "--interval", "0.5",
                    "--timeout", "60", timeout=90)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    seen = [e["phase"] for e in events]
    changes = [p for i, p in enumerate(seen) if i == 0 or p != seen[i - 1]]  # progress repeats a phase
    assert changes == list(phases.CPU_PHASES), seen
    assert {"phase": "kv_cache", "done": 4096, "total": 4096}.items() <= events[seen.index("kv_cache")].items()
    plain = [line.split("phase: ", 1)[1] for line in tiny.text().splitlines() if "s] phase: " in line]
    labels = [phases.describe(phases.Event(p)) for p in phases.CPU_PHASES]
    assert [next(label for label in labels if line.startswith(label)) for line in plain] == labels
    entries = json.loads((Path(tiny.env["FLOX_ENV_CACHE"]) / startup_report.REPORT).read_text())["starts"]
    recorded = [e for v in entries.values() for e in v]
    assert recorded and all(e["result"] == "ready" and e["version"] == tiny.version for e in recorded)
    assert {"imports", "weights", "warmup"} <= set(recorded[0]["phases"])


def test_prompt_logprobs_and_greedy_tokens_match_across_releases(tiny, reference, measured):
    """0.5.9 through the translation must compute exactly what 0.5.23 computes from the snapshot."""
    status, body = completion(tiny, API_KEY, text=PROMPT, return_logprob=True, logprob_start_len=0,
                              sampling_params={"temperature": 0, "max_new_tokens": 12, "ignore_eos": True})
    assert status == 200, body
    meta = body["meta_info"]
    seen = {"prompt": [[lp, tid] for lp, tid, *_ in meta["input_token_logprobs"]],
            "output": [tid for _, tid, *_ in meta["output_token_logprobs"]]}
    if tiny.version == VERSIONS[0]:
        reference["tiny"] = seen
        return
    expected = reference.get("tiny")
    assert expected, f"no reference from {VERSIONS[0]} (did its server start?)"
    assert [t for _, t in seen["prompt"]] == [t for _, t in expected["prompt"]], "different prompt token ids"
    diffs = [abs(a[0] - b[0]) for a, b in zip(seen["prompt"], expected["prompt"]) if a[0] is not None and b[0] is not None]
    measured[f"tiny {tiny.version}"].update(prompt_tokens=len(diffs), prompt_logprob_max_diff=max(diffs),
                                            same_greedy_tokens=seen["output"] == expected["output"])
    assert max(diffs) <= 1e-3, f"prompt logprobs differ by up to {max(diffs)}"
    assert seen["output"] == expected["output"], "different greedy continuation"


def test_sigterm_ends_the_server_and_no_line_it_wrote_holds_a_key(tiny, measured):
    assert get(tiny, "/v1/models").status_code == 401  # a refused request is in the log too
    stopped = tiny.stop()
    assert stopped is not None and stopped < 60, tiny.notes
    measured[f"tiny {tiny.version}"]["sigterm_s"] = round(stopped, 1)
    log = tiny.text()
    for secret in (API_KEY, ADMIN_KEY):
        for form in bootstrap.forms(secret):
            assert form not in log, f"a form of a key ({form[:3]}...) is in the server log"
    # ...and the lines that would have held them are there, redacted.
    assert "***" in log and "401" in log
