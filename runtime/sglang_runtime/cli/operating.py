"""The commands that operate a running server: wait, query, doctor."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

from ..config import settings
from ..util import inert
from ..util.errors import ConfigError
from .output import emit, fail, masked, reports_errors


def _api_key(values: settings.Settings) -> str | None:
    from ..launch import plan as launch

    return launch.configured_api_key(values)


def _checked_url(url: str) -> str:
    """--url must be an http(s) URL with a host (and a valid port): anything else is refused at once."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    # urlsplit quietly drops tabs and newlines; a URL holding one (or any control character) is a mistake.
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable():
        raise ConfigError("--url", inert.line(url), "an http:// or https:// URL with a host, such as http://127.0.0.1:30000")
    return url


def _server_url(values: settings.Settings) -> str:
    from ..operate import health

    host = values.get("SGLANG_HOST")
    # A wildcard bind is reached through loopback from the same host.
    host = "127.0.0.1" if host in (None, "", "0.0.0.0", "::") else host
    return health.default_url(values.get("SGLANG_PORT"), f"[{host}]" if ":" in host else host)


@click.command("wait")
@click.option("--url", help="Server base URL [default: http://127.0.0.1:$SGLANG_PORT].")
@click.option("--timeout", type=click.FloatRange(min=0), default=900.0, show_default=True, help="Seconds to wait.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True, help="Seconds between polls.")
@click.option("--pid", type=click.IntRange(min=1), help="Server process: stop at once, with its exit status, if it dies.")
@click.option("--log", "log_file", help="The server's log of this start (a file, or - for a pipe): a fatal line ends the wait, "
              "and on failure the root cause and the last lines are printed.")
@click.option("--show-secrets", is_flag=True, help="Print the API key in the export lines instead of ***.")
@click.option("--json", "as_json", is_flag=True, help="With --log: one start-up event per line on stdout, "
              '{"phase", "done", "total", "t"}; no export lines.')
@reports_errors
def wait_cmd(url: str | None, timeout: float, interval: float, pid: int | None, log_file: str | None, show_secrets: bool,
             as_json: bool = False) -> None:
    """Block until /health_generate answers 200 (a real forward pass); on a node of rank > 0, which serves no API, until its health stub answers. Exit 0 ready, 1 timed out, 4 server died."""
    from ..operate import health
    from ..launch import nodes

    started = time.monotonic()
    env = dict(os.environ)
    values = settings.load(env)
    key = _api_key(values)
    # A node of rank > 0 answers 200 from a health stub that generates nothing: say so, wait only for
    # the stub (this node's schedulers are up), and print no client exports (there is no API here).
    stub = None if url else nodes.topology(values, env)
    stub = stub if stub is not None and not stub.serves_api else None
    url = _checked_url(url) if url else _server_url(values)

    view = start = None

    def report(seen: "health.Observation", elapsed: float) -> None:
        line = f"[{elapsed:7.1f}s] {seen.state}: {inert.line(seen.detail)}"
        if view is not None and not as_json:
            view.note(masked(line))  # through the view: the live line is redrawn below it, not torn
        else:
            emit(line, err=True)
        if view is not None and seen.state == health.READY:
            view.ready()

    if stub is not None:
        emit(nodes.no_api_note(stub, values.get("SGLANG_PORT")), err=True)
        emit(f"waiting for this node's health stub at {url}{health.READY_PATH} (timeout {timeout:.0f} s); "
              f"for the API: sglang-runtime wait --url http://{stub.leader_host}:{values.get('SGLANG_PORT')}", err=True)
    else:
        emit(f"waiting for {url}{health.READY_PATH} (timeout {timeout:.0f} s)", err=True)
    watch = (health.StreamWatch() if log_file == "-" else health.LogWatch(log_file)) if log_file else None
    if watch is not None:
        from ..operate import startup_report

        view, start = startup_report.watch_view(values, pid, as_json)
        watch.observer = view.lines  # the start-up phases, from the same reads that look for a fatal line
    try:
        out = health.wait(url, timeout=timeout, interval=interval, api_key=key, pid=pid, on_change=report, log=watch)
    finally:
        if view is not None:
            view.close()
    if start is not None:
        emit(startup_report.finish(values, start, view, out.result), err=True)
    if out.result == health.READY and stub is not None:
        emit(f"node rank {stub.rank} of {stub.nnodes} is up after {out.elapsed:.1f} s (health stub only; no API here)", err=True)
        return
    if out.result == health.READY:
        emit(f"ready after {out.elapsed:.1f} s", err=True)
        for line in ([] if as_json and watch is not None else health.ready_exports(url, key, show_secrets)):
            emit(line, reveal=show_secrets)
        return
    if out.result == health.DIED:
        status = f"exit status {out.exit_status}" if out.exit_status is not None else "exit status unknown (already reaped)"
        message = f"server process {pid} exited ({status}) after {out.elapsed:.1f} s"
    elif out.result == health.FATAL:
        message = f"server cannot become ready after {out.elapsed:.1f} s: {inert.line(out.fatal or '')}"
    else:
        last = f"; last: {out.last.state} ({out.last.detail})" if out.last else "; no answer yet"
        message = f"{url} not ready after {out.elapsed:.1f} s{last}"
    if watch is not None:
        _diagnose(watch, log_file, max(DIAGNOSIS_MIN, timeout - (time.monotonic() - started)))
    fail(message, out.exit_code)


DIAGNOSIS_MIN = 0.5  # what the diagnosis gets when the wait used up --timeout (the command's only slack)


def _diagnose(watch: Any, log_file: str, seconds: float) -> None:
    """The log's root causes and last lines, within what is left of --timeout."""
    from ..operate import causes, health
    from ..util.deadline import DeadlineExceeded, wall_clock

    shown = "the log" if log_file == "-" else inert.line(log_file)
    try:
        with wall_clock(seconds):
            for line in causes.diagnose(watch.tail_lines()):
                emit(inert.line(line), err=True)
            emit(f"--- last lines of {shown} ---", err=True)
            for line in health.log_tail(watch):
                emit(inert.line(line), err=True)
    except DeadlineExceeded:
        emit(f"(reading the log stopped at the --timeout; see {shown})", err=True)


@click.command("query")
@click.argument("prompt")
@click.option("--url", help="Server base URL [default: http://127.0.0.1:$SGLANG_PORT].")
@click.option("--model", help="Model name [default: the first one /v1/models lists].")
@click.option("--stream", is_flag=True, help="Stream the answer and report time to first token.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Cap the answer's length.")
@click.option("--temperature", type=click.FloatRange(min=0), help="Sampling temperature (0: the same answer every time) [default: the server's].")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, help="Seconds for the whole request.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw response (with --stream: the list of chunks).")
@reports_errors
def query_cmd(prompt: str, url: str | None, model: str | None, stream: bool, max_tokens: int | None,
              temperature: float | None, timeout: float, as_json: bool) -> None:
    """Send one chat completion to /v1/chat/completions and print the answer, timings and cache use."""
    from ..operate import query

    values = settings.load(dict(os.environ))
    try:
        answer = query.chat(_checked_url(url) if url else _server_url(values), prompt, api_key=_api_key(values), model=model,
                            stream=stream, max_tokens=max_tokens, timeout=timeout, temperature=temperature)
    except query.QueryError as exc:
        fail(str(exc), 1)
    if as_json:
        emit(json.dumps(answer.raw, indent=2))
        return
    if answer.reasoning:
        emit("## reasoning")
        emit(answer.reasoning.strip())
        emit("\n## answer")
    emit(answer.content.strip())
    stats = [f"model {answer.model}"]
    if answer.prompt_tokens is not None:
        cached = f" ({answer.cached_tokens} from the prefix cache)" if answer.cached_tokens is not None else ""
        stats.append(f"{answer.prompt_tokens} prompt tokens{cached}")
    if answer.completion_tokens is not None:
        stats.append(f"{answer.completion_tokens} completion tokens")
    if answer.ttft is not None:
        stats.append(f"first token {answer.ttft:.3f} s")
    stats.append(f"total {answer.total:.3f} s")
    emit("\n" + " | ".join(stats), err=True)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--nvidia-smi", "nvidia_smi", default="nvidia-smi", show_default=True, help="nvidia-smi to query.")
@click.option("--no-model-read", is_flag=True, help="Skip reading the model's config and tokenizer with the serving interpreter.")
@click.option("--model-read-timeout", type=click.FloatRange(min=1), default=180.0, show_default=True,
              help="Seconds (wall clock) the serving interpreter gets to read the model.")
@reports_errors
def doctor_cmd(as_json: bool, nvidia_smi: str, no_model_read: bool, model_read_timeout: float) -> None:
    """Check the host and the configuration against what SGLang needs; exit 1 if any check fails."""
    from ..operate import doctor

    checks = doctor.run(dict(os.environ), nvidia_smi=nvidia_smi, read_model=not no_model_read, read_timeout=model_read_timeout)
    bad = doctor.failed(checks)
    if as_json:
        emit(json.dumps({"ok": not bad, "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        for c in checks:
            emit(f"[{c.status:^4}] {c.name}: {inert.line(c.message)}")
            if c.fix and c.status != doctor.OK:
                emit(f"       fix: {inert.line(c.fix)}")
    if bad:
        sys.exit(1)
