"""`sglang-runtime batch`: the click shell around batch.py (files, options, printing, exit codes).

Exit codes: 0 every request answered 2xx; 1 some did not (their lines in the output
say why) or the server cannot be reached; 2 bad options or bad input lines (nothing
sent); 130 interrupted (everything finished so far is in the output: run again to resume).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import BinaryIO, ContextManager, Iterator

import click

# Only the format at import time: the runner (http.client, threads) loads when a batch runs,
# so that every other command starts as fast as before.
from ..operate import batch_format
from ..config import settings
from .operating import _api_key, _checked_url, _server_url
from .output import EXIT_CONFIG, EXIT_FAILED, emit, fail, reports_errors
from ..util.errors import ConfigError


def _open_input(path: str) -> ContextManager[BinaryIO]:
    """The input, for a `with`: a file, or stdin (which the `with` leaves open)."""
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ConfigError("INPUT", path, f"a readable JSONL file ({exc.strerror})") from None


def _check_file(path: str) -> batch_format.Checker:
    """Pass one over a regular file: every line validated (and counted) before anything is sent."""
    checker = batch_format.Checker()
    with _open_input(path) as f:
        for number, text in batch_format.read_lines(f):
            checker.check(number, text)
    return checker


def _refuse_bad(checker: batch_format.Checker, name: str, sent: bool) -> None:
    for line in checker.report(name):
        emit(line, err=True)
    what = "the rest was not sent" if sent else "nothing was sent"
    fail(f"{checker.bad_count} bad line{'s' * (checker.bad_count != 1)} in {name}; {what}", EXIT_CONFIG)


def _requests(path: str, done: set[str], checker: batch_format.Checker | None) -> Iterator[batch_format.Request]:
    """The requests still to send. With `checker` (a stream, not checked beforehand) each line is
    checked as it arrives, and the first bad one ends the input."""
    with _open_input(path) as f:
        for number, text in batch_format.read_lines(f):
            if checker is not None:
                request = checker.check(number, text)
                if checker.bad_count:
                    return
            else:
                request = batch_format.parse_line(text, number)
            if isinstance(request, batch_format.Request) and request.custom_id not in done:
                yield request


def _reachable(base: str, key: str | None) -> str | None:
    """Fail at once when nothing answers at `base` (rather than retrying every line); the first model, if listed."""
    from ..operate import batch_http

    try:
        status, listed = batch_http.get_json(base, key, "/v1/models")
    except OSError as exc:
        fail(f"cannot connect to {base}: {batch_http._describe(exc)} (is the server up? try `sglang-runtime wait`)", EXIT_FAILED)
    if status == 401:
        fail(f"{base}/v1/models: HTTP 401 (the server wants an API key: set SGLANG_API_KEY)", EXIT_FAILED)
    return batch_format.listed_model(listed)


@click.command("batch")
@click.argument("input_path", metavar="INPUT.jsonl")
@click.option("-o", "--output", metavar="OUTPUT.jsonl", help="Where results are appended, one a line, as they finish (- for stdout). Required unless --check.")
@click.option("--url", help="Server or gateway base URL [default: http://127.0.0.1:$SGLANG_PORT].")
@click.option("--concurrency", type=click.IntRange(1, 1024),
              help=f"Requests in flight [default: the server's max_running_requests (at most {batch_format.MAX_DEFAULT}), else {batch_format.DEFAULT_CONCURRENCY}].")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip the custom_ids OUTPUT already answers (connection errors, timeouts, 429 and 5xx are sent again); --no-resume starts OUTPUT afresh.")
@click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Retries for a connection error, 429 (after its Retry-After) or 5xx, with exponential backoff and jitter.")
@click.option("--request-timeout", type=click.FloatRange(min=1), default=600.0, show_default=True,
              help="Seconds (wall clock) for one attempt of one request.")
@click.option("--model", help="Model for bodies without one [default: the first one /v1/models lists].")
@click.option("--check", is_flag=True, help="Only validate INPUT (line numbers of bad lines); send nothing. Exit 2 if any line is bad.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (on stdout; on stderr when OUTPUT is stdout).")
@reports_errors
def batch_cmd(input_path: str, output: str | None, url: str | None, concurrency: int | None, resume: bool, retries: int,
              request_timeout: float, model: str | None, check: bool, as_json: bool) -> None:
    """Send every request of an OpenAI batch file (JSONL: custom_id, method, url, body) to the server and append each answer to OUTPUT."""
    from ..operate import batch

    stream = batch.is_stream(input_path)
    name = "stdin" if input_path == "-" else input_path
    checker = _check_file(input_path) if not stream else None
    if check:
        checker = checker or _check_file(input_path)
        if checker.bad_count:
            _refuse_bad(checker, name, sent=False)
        emit(f"{name}: {checker.requests} requests, every line valid", err=True)
        return
    if checker is not None and checker.bad_count:
        _refuse_bad(checker, name, sent=False)
    if not output:
        raise ConfigError("--output", None, "a file for the results (or - for stdout)")
    if output != "-" and input_path != "-" and os.path.exists(output) and os.path.samefile(output, input_path):
        raise ConfigError("--output", output, "a file other than the input")
    values = settings.load(dict(os.environ))
    base = _checked_url(url) if url else _server_url(values)
    key = _api_key(values)
    model = model or _reachable(base, key)

    done, dropped = set(), 0
    if output != "-" and resume:
        try:
            done, dropped = batch.prepare_output(output)
        except ValueError as exc:
            raise ConfigError("--output", output, f"a batch output file to resume ({exc}), or --no-resume") from None
        except OSError as exc:
            raise ConfigError("--output", output, f"a readable and writable file ({exc.strerror})") from None
    if concurrency is None:
        concurrency, source = batch.default_concurrency(base, key)
    else:
        source = "--concurrency"
    total = None if checker is None else sum(1 for cid in checker.seen if cid not in done)
    skipped = 0 if checker is None else len(checker.seen) - total
    again = f", {dropped} failed results sent again" if dropped else ""
    todo = f"{total} requests" if total is not None else "requests from stdin"
    emit(f"batch: {todo} to {base}, concurrency {concurrency} (from {source})"
          + (f"; resuming: {skipped} already in {output}{again}" if skipped or dropped else ""), err=True)
    try:
        out = sys.stdout.buffer if output == "-" else open(output, "ab" if resume else "wb")
    except OSError as exc:
        raise ConfigError("--output", output, f"a writable file ({exc.strerror})") from None
    _run(input_path, name, out, output, base, key, model, concurrency, retries, request_timeout, done, checker, total,
         skipped, as_json)


def _run(input_path, name, out, output, base, key, model, concurrency, retries, request_timeout, done, checker, total,
         skipped, as_json) -> None:
    from ..operate import batch, batch_http
    from . import batch_progress

    stream_checker = batch_format.Checker() if checker is None else None
    if sys.stderr.isatty():
        progress = batch_progress.Bar(total, sys.stderr)
    else:
        progress = batch_progress.Lines(total, lambda line: emit(line, err=True))
    policy = batch_http.Policy(retries=retries, timeout=request_timeout)
    runner = batch.Runner(base, key, concurrency, out, policy=policy, model=model, on_record=progress.update)
    runner.summary.total, runner.summary.skipped = total, skipped
    try:
        summary = runner.run(_requests(input_path, done, stream_checker))
    except KeyboardInterrupt:
        progress.close()
        emit(f"interrupted: {runner.summary.done} results written to {output}"
              + ("; run the same command again to resume" if output != "-" else ""), err=True)
        sys.exit(130)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        fail(f"cannot write {output}: {exc.strerror or exc} (the results so far are in it)", EXIT_FAILED)
    finally:
        if output != "-":
            out.close()
    progress.close()
    if stream_checker is not None and stream_checker.bad_count:
        _refuse_bad(stream_checker, name, sent=True)
    if as_json:
        emit(json.dumps(summary.as_dict(), indent=2), err=output == "-")
    else:
        for line in batch_progress.summary_lines(summary):
            emit(line, err=True)
    if summary.failed:
        fail(f"{summary.failed} of {summary.done} requests did not succeed; their lines in {output} say why", EXIT_FAILED)
