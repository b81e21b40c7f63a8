"""Command line: the only module that prints or exits, and so the one place where text leaves the program.

Exit codes: 0 success (or dry run); 1 did not succeed (wait timed out, query failed, doctor
found a failure, or an unexpected error: one line, the traceback only with
SGLANG_RUNTIME_DEBUG=1); 2 bad configuration; 3 preflight failed; 4 the server died or
logged that it cannot become ready.

Everything printed goes through `_emit`, which applies the one masking rule (redact.mask):
every form of every secret this invocation has seen, and the value of every secret flag.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import sys
from typing import Any, Callable

# PYTHONPATH belongs to the serving interpreter (the Flox hook points it at SGLang's closure,
# built for another Python); the launcher only reads it as data (versions.site_dirs), so its
# own imports must come from its own environment first. Stable sort: moves those entries last.
_serving = frozenset(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
sys.path.sort(key=_serving.__contains__)

import click  # noqa: E402

from . import DISTRIBUTION, redact, settings
from .errors import ConfigError, PreflightError

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_PREFLIGHT = 3
DEBUG = "SGLANG_RUNTIME_DEBUG"
# The secrets this invocation knows of (API keys, secret flag values, Hub tokens): never printed.
_SECRETS: set[str] = set()


def _emit(message: Any = "", err: bool = False, nl: bool = True, reveal: bool = False) -> None:
    """Print, masked; `reveal` only where the user asked to see secrets (--show-secrets)."""
    from .argv import all_secret_flags

    text = str(message) if reveal else redact.mask(str(message), _SECRETS, all_secret_flags())
    click.echo(text, err=err, nl=nl)


def _learn_secrets(env: dict[str, str]) -> None:
    """Collect every secret the environment names, before anything can fail and quote one.
    Best effort by design: a file that cannot be read here is reported by the command itself."""
    from . import argv, files

    for name in ("SGLANG_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if env.get(name, "").strip():
            _SECRETS.update({env[name], env[name].strip()})
    texts = [env.get("SGLANG_EXTRA_ARGS", "")]
    for name, limit in (("SGLANG_API_KEY_FILE", files.SECRET_LIMIT), ("SGLANG_ARGS_FILE", files.ARGS_LIMIT)):
        if env.get(name):
            try:
                text = files.read_text(env[name], name, "a file", limit)
            except ConfigError:
                continue
            if name == "SGLANG_API_KEY_FILE":
                _SECRETS.update({text, text.strip()} - {""})
            else:
                texts.append(text)
    for text in texts:
        _SECRETS.update(argv.secret_values(text))
    # Masking a two-letter "secret" literally would garble every line; flags still hide such values.
    _SECRETS.difference_update({s for s in _SECRETS if len(s) < 4})


def _settings_epilog() -> str:
    lines = ["\b", "Settings (environment variables; `sglang-runtime settings` shows current values):"]
    for s in settings.TABLE:
        default = f" [default: {s.default}]" if s.default is not None else ""
        lines.append(f"  {s.env}{default}")
    return "\n".join(lines)


def _fail(message: str, code: int) -> None:
    # One line, whatever the message holds (a path with a newline, say).
    line = " ".join(str(message).splitlines())
    _emit(f"{click.get_current_context().command_path}: error: {line}", err=True)
    sys.exit(code)


def reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line and a documented exit code for every way a command fails, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _learn_secrets(dict(os.environ))
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc), EXIT_CONFIG)
        except PreflightError as exc:
            _fail(str(exc), EXIT_PREFLIGHT)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`sglang-runtime flags | head`): nothing to say, and nowhere to say
            # it. Python would complain again when it flushes stdout at exit, so point that at /dev/null.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_FAILED)
        except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
            # Read raw: the settings themselves may be what failed to load.
            if os.environ.get(DEBUG, "").strip().lower() in ("1", "true", "yes", "on"):
                import traceback

                _emit("".join(traceback.format_exception(exc)).rstrip(), err=True)
            hint = f"this is a bug in sglang-runtime; set {DEBUG}=1 for the traceback"
            _fail(f"unexpected {type(exc).__name__}: {exc} ({hint})", EXIT_FAILED)

    return wrapper


def _notice(message: str) -> None:
    _emit(f"notice: {message}", err=True)


def _detected_release(values: settings.Settings, env: dict[str, str]) -> str:
    """SGLANG_VERSION, else the serving interpreter's installed sglang (as serve reads it), else the pinned one."""
    from . import launch, versions

    if values.get("SGLANG_VERSION"):
        return values.get("SGLANG_VERSION")
    python, _ = versions.serving_python(values.get("SGLANG_PYTHON"))
    return versions.installed_text("sglang", versions.site_dirs(python, env)) or launch.ASSUMED_VERSION


def _warn_unknown_variables(values: settings.Settings, env: dict[str, str]) -> None:
    """One stderr line per SGLANG_* variable nobody reads (a typo, most often); never a failure."""
    from . import unknown_vars

    if not any(name.startswith(unknown_vars.PREFIX) for name in env):
        return
    for line in unknown_vars.warnings(env, _detected_release(values, env)):
        click.echo(f"warning: {line}", err=True)


@click.command("resolve-model", epilog=_settings_epilog())
@click.option("--json", "as_json", is_flag=True,
              help="Also print the result as JSON on stdout: the env file's values, where the model was found, the compat rules applied.")
@reports_errors
def resolve_model(as_json: bool) -> None:
    """Find SGLANG_MODEL locally (Flox bundle, SGLANG_MODEL_PATH, HF cache), translate a transformers-5 checkpoint for transformers 4.x if needed, write the env file."""
    from . import envfile, hub, resolve

    env = dict(os.environ)
    values = settings.load(env)
    _warn_unknown_variables(values, env)
    result = resolve.resolve(env, values, hub.default_hf_cache())
    for notice in result.notices:
        _notice(notice)
    target = settings.path(values, "SGLANG_MODEL_ENV_FILE")
    try:
        envfile.write(target, result.values)
    except OSError as exc:
        raise ConfigError("SGLANG_MODEL_ENV_FILE", str(target), f"a writable location ({exc.strerror})") from None
    where = f" ({result.found.where})" if result.found else ""
    rules = result.values.get(envfile.COMPAT_RULES)
    shimmed = f"; transformers-4 shadow, compat rules applied: {rules.replace(',', ', ')}" if result.shadow else ""
    _emit(f"{result.values['SGLANG_RESOLVED_FOR']} -> {result.values['SGLANG_RESOLVED_MODEL']}{where}{shimmed}", err=True)
    if as_json:
        _emit(json.dumps({
            "values": result.values,
            "env_file": str(target),
            "snapshot": str(result.found.snapshot) if result.found else None,
            "where": result.found.where if result.found else None,
            "shadow": str(result.shadow) if result.shadow else None,
            "compat_rules": rules.split(",") if rules else [],
            "compat_applied": list(result.applied),
        }, indent=2))


@click.command("serve", epilog=_settings_epilog())
@click.option("--dry-run", is_flag=True, help="Print the server command line and exit (also SGLANG_DRY_RUN=1).")
@click.option("--print-cmd", is_flag=True, help="Print the server command line on stderr, then start it.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print argv, environment changes and unset variables as JSON.")
@click.option("--show-secrets", is_flag=True, help="Show the API key instead of ***.")
@reports_errors
def serve(dry_run: bool, print_cmd: bool, as_json: bool, show_secrets: bool) -> None:
    """Validate the settings, build the launch_server command for the installed SGLang, and exec it."""
    from . import argv as argv_mod
    from . import launch

    env = dict(os.environ)
    values = settings.load(env)
    _warn_unknown_variables(values, env)
    dry_run = dry_run or bool(values.get("SGLANG_DRY_RUN"))
    result = launch.plan(env, values, dry_run=dry_run)
    for notice in result.notices:
        _notice(notice)
    shown = result.argv if show_secrets else argv_mod.masked(result.argv, result.secret_flags)
    if result.secrets_passed:
        _notice(f"{', '.join(result.secrets_passed)}: passed to SGLang in the environment of {launch.BOOTSTRAP.name}, "
                "never on a command line; the server's output is redacted")
    if dry_run:
        if as_json:
            _emit(json.dumps({"argv": shown, "exec": result.exec_argv, "env": result.env_changes,
                              "unset": list(result.unset), "secrets_via_environment": result.secrets_passed},
                             indent=2), reveal=show_secrets)
        else:
            _emit(shlex.join(shown), reveal=show_secrets)
        return
    if print_cmd:
        _emit(shlex.join(shown), err=True, reveal=show_secrets)
    launch.make_cache_dirs(result)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(result.argv[0], result.exec_argv, result.child_env(env))


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README's settings table.")
@click.option("--show-secrets", is_flag=True, help="Show secret values instead of ***.")
@reports_errors
def settings_cmd(markdown: bool, show_secrets: bool) -> None:
    """List every setting: variable, type, default, SGLang flag and current value."""
    if markdown:
        _emit(settings.markdown_table(), nl=False)
        return
    rows = [("VARIABLE", "TYPE", "DEFAULT", "SGLANG FLAG", "VALUE")]
    for s in settings.TABLE:
        flag = " / ".join(f for _, f in s.flags)
        rows.append((s.env, s.kind, s.default or "", flag, settings.display_value(s, os.environ.get(s.env), show_secrets)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        _emit("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4], reveal=show_secrets)


@click.command("flags")
@click.option("--version", "version", metavar="X.Y.Z",
              help="SGLang release [default: SGLANG_VERSION, else the serving interpreter's sglang, as serve detects it].")
@click.option("--json", "as_json", is_flag=True, help="Print the flags as JSON.")
@reports_errors
def flags_cmd(version: str | None, as_json: bool) -> None:
    """Show the SGLang flags the launcher manages (setting -> flag) and every other flag the release has."""
    from . import flagdata, flagsview

    if version is not None:
        if not settings.parse_version(version):
            raise ConfigError("--version", version, "a version such as 0.5.9")
        version = version.strip()
    else:
        version = _detected_release(settings.load(dict(os.environ)), dict(os.environ))
    release, notice = flagdata.for_version(version)
    if notice:
        _notice(notice)
    view = flagsview.describe(version, release)
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for line in flagsview.text(view):
        click.echo(line)


@click.group(epilog=_settings_epilog())
@click.version_option(package_name=DISTRIBUTION, prog_name="sglang-runtime")
def main() -> None:
    """Run SGLang reproducibly: resolve the model, validate settings, launch and operate the server."""


main.add_command(resolve_model)
main.add_command(serve)
main.add_command(settings_cmd)
main.add_command(flags_cmd)


@main.command("activate-env")
@click.argument("sglang", required=False)
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Write the record atomically to DIR/<store path name>.env instead of printing it (the Flox hook's cache).")
@reports_errors
def activate_env(sglang: str | None, cache_dir: str | None) -> None:
    """Variables the Flox hook exports for the Nix closure of SGLANG (default: `sglang` on PATH), from one nix-store walk."""
    from pathlib import Path

    from . import closure, envfile

    top, record = closure.activation_record(sglang or closure.sglang_on_path())
    if not cache_dir:
        _emit(record, nl=False)
        return
    target = os.path.join(cache_dir, closure.cache_name(top))
    try:
        # 0644, not the env file's 0600: a service run as another user reads this cache too.
        envfile.write_atomic(Path(target), record, mode=0o644)
    except OSError as exc:
        raise PreflightError(f"cannot write {target} ({exc.strerror})") from None


# ---------------------------------------------------------------- operating the server (wait, query, doctor)

def _api_key(values: settings.Settings) -> str | None:
    from . import launch

    return launch.configured_api_key(values)


def _checked_url(url: str) -> str:
    """--url must be an http(s) URL with a host (and a valid port): anything else is refused at once."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("--url", url, "an http:// or https:// URL with a host, such as http://127.0.0.1:30000")
    return url


def _server_url(values: settings.Settings) -> str:
    from . import health

    host = values.get("SGLANG_HOST")
    # A wildcard bind is reached through loopback from the same host.
    host = "127.0.0.1" if host in (None, "", "0.0.0.0", "::") else host
    return health.default_url(values.get("SGLANG_PORT"), f"[{host}]" if ":" in host else host)


@main.command("wait")
@click.option("--url", help="Server base URL [default: http://127.0.0.1:$SGLANG_PORT].")
@click.option("--timeout", type=click.FloatRange(min=0), default=900.0, show_default=True, help="Seconds to wait.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True, help="Seconds between polls.")
@click.option("--pid", type=click.IntRange(min=1), help="Server process: stop at once, with its exit status, if it dies.")
@click.option("--log", "log_file", help="The server's log of this start (a file, or - for a pipe): a fatal line ends the wait, "
              "and on failure the root cause and the last lines are printed.")
@click.option("--show-secrets", is_flag=True, help="Print the API key in the export lines instead of ***.")
@reports_errors
def wait_cmd(url: str | None, timeout: float, interval: float, pid: int | None, log_file: str | None, show_secrets: bool) -> None:
    """Block until /health_generate answers 200 (a real forward pass); on a node of rank > 0, which serves no API, until its health stub answers. Exit 0 ready, 1 timed out, 4 server died."""
    from . import health, nodes

    env = dict(os.environ)
    values = settings.load(env)
    key = _api_key(values)
    # A node of rank > 0 answers 200 from a health stub that generates nothing: say so, wait only for
    # the stub (this node's schedulers are up), and print no client exports (there is no API here).
    stub = None if url else nodes.topology(values, env)
    stub = stub if stub is not None and not stub.serves_api else None
    url = _checked_url(url) if url else _server_url(values)

    def report(seen: "health.Observation", elapsed: float) -> None:
        _emit(f"[{elapsed:7.1f}s] {seen.state}: {seen.detail}", err=True)

    if stub is not None:
        _emit(nodes.no_api_note(stub, values.get("SGLANG_PORT")), err=True)
        _emit(f"waiting for this node's health stub at {url}{health.READY_PATH} (timeout {timeout:.0f} s); "
              f"for the API: sglang-runtime wait --url http://{stub.leader_host}:{values.get('SGLANG_PORT')}", err=True)
    else:
        _emit(f"waiting for {url}{health.READY_PATH} (timeout {timeout:.0f} s)", err=True)
    watch = (health.StreamWatch() if log_file == "-" else health.LogWatch(log_file)) if log_file else None
    out = health.wait(url, timeout=timeout, interval=interval, api_key=key, pid=pid, on_change=report, log=watch)
    if out.result == health.READY and stub is not None:
        _emit(f"node rank {stub.rank} of {stub.nnodes} is up after {out.elapsed:.1f} s (health stub only; no API here)", err=True)
        return
    if out.result == health.READY:
        _emit(f"ready after {out.elapsed:.1f} s", err=True)
        for line in health.ready_exports(url, key, show_secrets):
            _emit(line, reveal=show_secrets)
        return
    if out.result == health.DIED:
        status = f"exit status {out.exit_status}" if out.exit_status is not None else "exit status unknown (already reaped)"
        message = f"server process {pid} exited ({status}) after {out.elapsed:.1f} s"
    elif out.result == health.FATAL:
        message = f"server cannot become ready after {out.elapsed:.1f} s: {out.fatal}"
    else:
        last = f"; last: {out.last.state} ({out.last.detail})" if out.last else "; no answer yet"
        message = f"{url} not ready after {out.elapsed:.1f} s{last}"
    if watch is not None:
        from . import causes

        for line in causes.diagnose(watch.tail_lines()):
            _emit(line, err=True)
        _emit(f"--- last lines of {'the log' if log_file == '-' else log_file} ---", err=True)
        for line in health.log_tail(watch):
            _emit(line, err=True)
    _fail(message, out.exit_code)


@main.command("query")
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
    from . import query

    values = settings.load(dict(os.environ))
    try:
        answer = query.chat(_checked_url(url) if url else _server_url(values), prompt, api_key=_api_key(values), model=model,
                            stream=stream, max_tokens=max_tokens, timeout=timeout, temperature=temperature)
    except query.QueryError as exc:
        _fail(str(exc), 1)
    if as_json:
        _emit(json.dumps(answer.raw, indent=2))
        return
    if answer.reasoning:
        _emit("## reasoning")
        _emit(answer.reasoning.strip())
        _emit("\n## answer")
    _emit(answer.content.strip())
    stats = [f"model {answer.model}"]
    if answer.prompt_tokens is not None:
        cached = f" ({answer.cached_tokens} from the prefix cache)" if answer.cached_tokens is not None else ""
        stats.append(f"{answer.prompt_tokens} prompt tokens{cached}")
    if answer.completion_tokens is not None:
        stats.append(f"{answer.completion_tokens} completion tokens")
    if answer.ttft is not None:
        stats.append(f"first token {answer.ttft:.3f} s")
    stats.append(f"total {answer.total:.3f} s")
    _emit("\n" + " | ".join(stats), err=True)


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--nvidia-smi", "nvidia_smi", default="nvidia-smi", show_default=True, help="nvidia-smi to query.")
@click.option("--no-model-read", is_flag=True, help="Skip reading the model's config and tokenizer with the serving interpreter.")
@click.option("--model-read-timeout", type=click.FloatRange(min=1), default=180.0, show_default=True,
              help="Seconds (wall clock) the serving interpreter gets to read the model.")
@reports_errors
def doctor_cmd(as_json: bool, nvidia_smi: str, no_model_read: bool, model_read_timeout: float) -> None:
    """Check the host and the configuration against what SGLang needs; exit 1 if any check fails."""
    from . import doctor

    checks = doctor.run(dict(os.environ), nvidia_smi=nvidia_smi, read_model=not no_model_read, read_timeout=model_read_timeout)
    bad = doctor.failed(checks)
    if as_json:
        _emit(json.dumps({"ok": not bad, "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        for c in checks:
            _emit(f"[{c.status:^4}] {c.name}: {c.message}")
            if c.fix and c.status != doctor.OK:
                _emit(f"       fix: {c.fix}")
    if bad:
        sys.exit(1)


def resolve_model_main() -> None:
    resolve_model(prog_name="sglang-resolve-model")


def serve_main() -> None:
    serve(prog_name="sglang-serve")


# `batch` lives in its own module (batch_cli), which imports the helpers above.
from .batch_cli import batch_cmd  # noqa: E402

main.add_command(batch_cmd)
