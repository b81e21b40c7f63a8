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


@click.command("resolve-model", epilog=_settings_epilog())
@reports_errors
def resolve_model() -> None:
    """Find SGLANG_MODEL locally (Flox bundle, SGLANG_MODEL_PATH, HF cache), apply the tokenizer shim, write the env file."""
    from . import envfile, hub, launch, resolve

    env = dict(os.environ)
    values = settings.load(env)
    result = resolve.resolve(env, hub.default_hf_cache())
    for notice in result.notices:
        _notice(notice)
    target = launch.envfile_path(values)
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
    dry_run = dry_run or bool(settings.load(env).get("SGLANG_DRY_RUN"))
    result = launch.plan(env, dry_run=dry_run)
    for notice in result.notices:
        _notice(notice)
    shown = result.argv if show_secrets else argv_mod.masked(result.argv)
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


@click.group(epilog=_settings_epilog())
@click.version_option(__version__, prog_name="sglang-runtime")
def main() -> None:
    """Run SGLang reproducibly: resolve the model, validate settings, launch and operate the server."""


main.add_command(resolve_model)
main.add_command(serve)
main.add_command(settings_cmd)


def resolve_model_main() -> None:
    resolve_model(prog_name="sglang-resolve-model")


def serve_main() -> None:
    serve(prog_name="sglang-serve")


@main.command("activate-env")
@click.argument("sglang", required=False)
@click.option("--cache-file", type=click.Path(dir_okay=False),
              help="Write the record to this file atomically instead of printing it (the Flox hook's cache).")
@reports_errors
def activate_env(sglang: str | None, cache_file: str | None) -> None:
    """Variables the Flox hook exports for the Nix closure of SGLANG (default: `sglang` on PATH), from one nix-store walk."""
    from . import closure

    record = closure.activation_record(sglang or closure.sglang_on_path())
    if not cache_file:
        click.echo(record, nl=False)
        return
    try:
        closure.write_atomic(cache_file, record)
    except OSError as exc:
        raise PreflightError(f"cannot write {cache_file} ({exc.strerror})") from None
