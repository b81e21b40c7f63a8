"""Command line: the only module that prints or exits.

Exit codes: 0 success (or dry run), 2 bad configuration, 3 preflight failed.
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

from . import __version__, settings
from .errors import ConfigError, PreflightError

EXIT_CONFIG = 2
EXIT_PREFLIGHT = 3


def _settings_epilog() -> str:
    lines = ["\b", "Settings (environment variables; `sglang-runtime settings` shows current values):"]
    for s in settings.TABLE:
        default = f" [default: {s.default}]" if s.default is not None else ""
        lines.append(f"  {s.env}{default}")
    return "\n".join(lines)


def _fail(message: str, code: int) -> None:
    click.echo(f"{click.get_current_context().command_path}: error: {message}", err=True)
    sys.exit(code)


def reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line and a distinct exit code for each way a launch is refused, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc), EXIT_CONFIG)
        except PreflightError as exc:
            _fail(str(exc), EXIT_PREFLIGHT)

    return wrapper


def _notice(message: str) -> None:
    click.echo(f"notice: {message}", err=True)


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
@reports_errors
def resolve_model() -> None:
    """Find SGLANG_MODEL locally (Flox bundle, SGLANG_MODEL_PATH, HF cache), apply the tokenizer shim, write the env file."""
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
    shimmed = "; tokenizer shim applied" if result.shadow else ""
    click.echo(f"{result.values['SGLANG_RESOLVED_FOR']} -> {result.values['SGLANG_RESOLVED_MODEL']}{where}{shimmed}", err=True)


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
    shown = result.argv if show_secrets else argv_mod.masked(result.argv, result.version)
    if dry_run:
        if as_json:
            click.echo(json.dumps({"argv": shown, "env": result.env_changes, "unset": list(result.unset)}, indent=2))
        else:
            click.echo(shlex.join(shown))
        return
    if print_cmd:
        click.echo(shlex.join(shown), err=True)
    launch.make_cache_dirs(result)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(result.argv[0], result.argv, result.child_env(env))


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README's settings table.")
@click.option("--show-secrets", is_flag=True, help="Show secret values instead of ***.")
def settings_cmd(markdown: bool, show_secrets: bool) -> None:
    """List every setting: variable, type, default, SGLang flag and current value."""
    if markdown:
        click.echo(settings.markdown_table(), nl=False)
        return
    rows = [("VARIABLE", "TYPE", "DEFAULT", "SGLANG FLAG", "VALUE")]
    for s in settings.TABLE:
        flag = " / ".join(f for _, f in s.flags)
        rows.append((s.env, s.kind, s.default or "", flag, settings.display_value(s, os.environ.get(s.env), show_secrets)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])


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
@click.version_option(__version__, prog_name="sglang-runtime")
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
        click.echo(record, nl=False)
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
@click.option("--pid", type=int, help="Server process: stop at once, with its exit status, if it dies.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False), help="Server log: its last lines are printed on failure.")
@click.option("--show-secrets", is_flag=True, help="Print the API key in the export lines instead of ***.")
@reports_errors
def wait_cmd(url: str | None, timeout: float, interval: float, pid: int | None, log_file: str | None, show_secrets: bool) -> None:
    """Block until /health_generate answers 200 (a real forward pass). Exit 0 ready, 1 timed out, 4 server died."""
    from . import health

    values = settings.load(dict(os.environ))
    key = _api_key(values)
    url = url or _server_url(values)

    def report(seen: "health.Observation", elapsed: float) -> None:
        click.echo(f"[{elapsed:7.1f}s] {seen.state}: {seen.detail}", err=True)

    click.echo(f"waiting for {url}{health.READY_PATH} (timeout {timeout:.0f} s)", err=True)
    out = health.wait(url, timeout=timeout, interval=interval, api_key=key, pid=pid, on_change=report)
    if out.result == health.READY:
        click.echo(f"ready after {out.elapsed:.1f} s", err=True)
        for line in health.ready_exports(url, key, show_secrets):
            click.echo(line)
        return
    if out.result == "died":
        status = f"exit status {out.exit_status}" if out.exit_status is not None else "exit status unknown (already reaped)"
        message = f"server process {pid} exited ({status}) after {out.elapsed:.1f} s"
    else:
        last = f"; last: {out.last.state} ({out.last.detail})" if out.last else ""
        message = f"{url} not ready after {out.elapsed:.1f} s{last}"
    if log_file:
        click.echo(f"--- last lines of {log_file} ---", err=True)
        for line in health.log_tail(log_file):
            click.echo(line, err=True)
    _fail(message, out.exit_code)


@main.command("query")
@click.argument("prompt")
@click.option("--url", help="Server base URL [default: http://127.0.0.1:$SGLANG_PORT].")
@click.option("--model", help="Model name [default: the first one /v1/models lists].")
@click.option("--stream", is_flag=True, help="Stream the answer and report time to first token.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Cap the answer's length.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, help="Seconds for the whole request.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw response (with --stream: the list of chunks).")
@reports_errors
def query_cmd(prompt: str, url: str | None, model: str | None, stream: bool, max_tokens: int | None,
              timeout: float, as_json: bool) -> None:
    """Send one chat completion to /v1/chat/completions and print the answer, timings and cache use."""
    from . import query

    values = settings.load(dict(os.environ))
    try:
        answer = query.chat(url or _server_url(values), prompt, api_key=_api_key(values), model=model,
                            stream=stream, max_tokens=max_tokens, timeout=timeout)
    except query.QueryError as exc:
        _fail(str(exc), 1)
    if as_json:
        click.echo(json.dumps(answer.raw, indent=2))
        return
    if answer.reasoning:
        click.echo("## reasoning")
        click.echo(answer.reasoning.strip())
        click.echo("\n## answer")
    click.echo(answer.content.strip())
    stats = [f"model {answer.model}"]
    if answer.prompt_tokens is not None:
        cached = f" ({answer.cached_tokens} from the prefix cache)" if answer.cached_tokens is not None else ""
        stats.append(f"{answer.prompt_tokens} prompt tokens{cached}")
    if answer.completion_tokens is not None:
        stats.append(f"{answer.completion_tokens} completion tokens")
    if answer.ttft is not None:
        stats.append(f"first token {answer.ttft:.3f} s")
    stats.append(f"total {answer.total:.3f} s")
    click.echo("\n" + " | ".join(stats), err=True)


@main.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--nvidia-smi", "nvidia_smi", default="nvidia-smi", show_default=True, help="nvidia-smi to query.")
@reports_errors
def doctor_cmd(as_json: bool, nvidia_smi: str) -> None:
    """Check the host and the configuration against what SGLang needs; exit 1 if any check fails."""
    from . import doctor

    checks = doctor.run(dict(os.environ), nvidia_smi=nvidia_smi)
    bad = doctor.failed(checks)
    if as_json:
        click.echo(json.dumps({"ok": not bad, "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        for c in checks:
            click.echo(f"[{c.status:^4}] {c.name}: {c.message}")
            if c.fix and c.status != doctor.OK:
                click.echo(f"       fix: {c.fix}")
    if bad:
        sys.exit(1)


def resolve_model_main() -> None:
    resolve_model(prog_name="sglang-resolve-model")


def serve_main() -> None:
    serve(prog_name="sglang-serve")
