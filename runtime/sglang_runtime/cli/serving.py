"""The commands that start a server: resolve-model, serve, and what they read (settings, flags, activate-env)."""

from __future__ import annotations

import json
import os
import shlex
import sys

import click

from ..config import settings
from ..util import inert
from ..util.errors import ConfigError, PreflightError
from .output import emit, emit_notice, reports_errors, settings_epilog

def _detected_release(values: settings.Settings, env: dict[str, str]) -> str:
    """SGLANG_VERSION, else the serving interpreter's installed sglang (as serve reads it), else the pinned one."""
    from ..launch import plan as launch
    from ..host import versions

    if values.get("SGLANG_VERSION"):
        return values.get("SGLANG_VERSION")
    python, _ = versions.serving_python(values.get("SGLANG_PYTHON"))
    return versions.installed_text("sglang", versions.site_dirs(python, env)) or launch.ASSUMED_VERSION


def _warn_unknown_variables(values: settings.Settings, env: dict[str, str]) -> None:
    """One stderr line per SGLANG_* variable nobody reads (a typo, most often); never a failure."""
    from ..launch import unknown_vars

    if not any(name.startswith(unknown_vars.PREFIX) for name in env):
        return
    for line in unknown_vars.warnings(env, _detected_release(values, env)):
        emit(f"warning: {inert.line(line)}", err=True)


@click.command("resolve-model", epilog=settings_epilog())
@click.option("--json", "as_json", is_flag=True,
              help="Also print the result as JSON on stdout: the env file's values, where the model was found, the compat rules applied.")
@reports_errors
def resolve_model(as_json: bool) -> None:
    """Find SGLANG_MODEL locally (Flox bundle, SGLANG_MODEL_PATH, HF cache), translate a transformers-5 checkpoint for transformers 4.x if needed, write the env file."""
    from ..util import envfile
    from ..model import hub, resolve

    env = dict(os.environ)
    values = settings.load(env)
    _warn_unknown_variables(values, env)
    result = resolve.resolve(env, values, hub.default_hf_cache())
    for notice in result.notices:
        emit_notice(notice)
    target = settings.path(values, "SGLANG_MODEL_ENV_FILE")
    try:
        envfile.write(target, result.values)
    except OSError as exc:
        raise ConfigError("SGLANG_MODEL_ENV_FILE", str(target), f"a writable location ({exc.strerror})") from None
    where = f" ({result.found.where})" if result.found else ""
    rules = result.values.get(envfile.COMPAT_RULES)
    shimmed = f"; transformers-4 shadow, compat rules applied: {rules.replace(',', ', ')}" if result.shadow else ""
    emit(f"{result.values['SGLANG_RESOLVED_FOR']} -> {result.values['SGLANG_RESOLVED_MODEL']}{where}{shimmed}", err=True)
    if as_json:
        emit(json.dumps({
            "values": result.values,
            "env_file": str(target),
            "snapshot": str(result.found.snapshot) if result.found else None,
            "where": result.found.where if result.found else None,
            "shadow": str(result.shadow) if result.shadow else None,
            "compat_rules": rules.split(",") if rules else [],
            "compat_applied": list(result.applied),
        }, indent=2))


@click.command("serve", epilog=settings_epilog())
@click.option("--dry-run", is_flag=True, help="Print the server command line and exit (also SGLANG_DRY_RUN=1).")
@click.option("--print-cmd", is_flag=True, help="Print the server command line on stderr, then start it.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print argv, environment changes and unset variables as JSON.")
@click.option("--show-secrets", is_flag=True, help="Show the API key instead of ***.")
@reports_errors
def serve(dry_run: bool, print_cmd: bool, as_json: bool, show_secrets: bool) -> None:
    """Validate the settings, build the launch_server command for the installed SGLang, and exec it."""
    from ..launch import argv as argv_mod
    from ..launch import plan as launch

    env = dict(os.environ)
    values = settings.load(env)
    _warn_unknown_variables(values, env)
    dry_run = dry_run or bool(values.get("SGLANG_DRY_RUN"))
    result = launch.plan(env, values, dry_run=dry_run)
    for notice in result.notices:
        emit_notice(notice)
    shown = result.argv if show_secrets else argv_mod.masked(result.argv, result.secret_flags)
    if result.secrets_passed:
        emit_notice(f"{', '.join(result.secrets_passed)}: passed to SGLang through a pipe to {launch.BOOTSTRAP.name}, "
                    "never on a command line nor in an environment; the server's output is redacted")
    if dry_run:
        if as_json:
            emit(json.dumps({"argv": shown, "exec": result.exec_argv, "env": result.env_changes,
                              "unset": list(result.unset), "secrets_via_environment": result.secrets_passed,
                  "prefetch": result.prefetch.as_dict() if result.prefetch else None},
                             indent=2), reveal=show_secrets)
        else:
            emit(shlex.join(shown), reveal=show_secrets)
        return
    if print_cmd:
        emit(shlex.join(shown), err=True, reveal=show_secrets)
    from ..operate import startup_relay, startup_report

    secret_fd = launch.open_handover(result.handover())  # first: a refusal of it leaves nothing behind
    startup_report.note_launch(values, result, os.getpid())  # before the caches are made: were they warm?
    launch.make_cache_dirs(result)
    sys.stdout.flush()
    sys.stderr.flush()
    # The server's output through a relay that adds the phase lines (the relay does not keep the secrets' pipe).
    startup_relay.start(values, result, close=(secret_fd,) if secret_fd is not None else ())
    os.execvpe(result.argv[0], result.exec_argv, result.child_env(env, secret_fd))


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Print the settings table of docs/settings.md.")
@click.option("--show-secrets", is_flag=True, help="Show secret values instead of ***.")
@reports_errors
def settings_cmd(markdown: bool, show_secrets: bool) -> None:
    """List every setting: variable, type, default, SGLang flag and current value."""
    if markdown:
        emit(settings.markdown_table(), nl=False)
        return
    rows = [("VARIABLE", "TYPE", "DEFAULT", "SGLANG FLAG", "VALUE")]
    for s in settings.TABLE:
        flag = " / ".join(f for _, f in s.flags)
        rows.append((s.env, s.kind, s.default or "", flag, settings.display_value(s, os.environ.get(s.env), show_secrets)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        emit("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4], reveal=show_secrets)


@click.command("flags")
@click.option("--version", "version", metavar="X.Y.Z",
              help="SGLang release [default: SGLANG_VERSION, else the serving interpreter's sglang, as serve detects it].")
@click.option("--json", "as_json", is_flag=True, help="Print the flags as JSON.")
@reports_errors
def flags_cmd(version: str | None, as_json: bool) -> None:
    """Show the SGLang flags the launcher manages (setting -> flag) and every other flag the release has."""
    from ..launch import flagdata, flagsview

    if version is not None:
        if not settings.parse_version(version):
            raise ConfigError("--version", version, "a version such as 0.5.9")
        version = version.strip()
    else:
        version = _detected_release(settings.load(dict(os.environ)), dict(os.environ))
    release, notice = flagdata.for_version(version)
    if notice:
        emit_notice(notice)
    view = flagsview.describe(version, release)
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for line in flagsview.text(view):
        click.echo(line)


@click.command("activate-env")
@click.argument("sglang", required=False)
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Write the record atomically to DIR/<store path name>.env instead of printing it (the Flox hook's cache).")
@reports_errors
def activate_env(sglang: str | None, cache_dir: str | None) -> None:
    """Variables the Flox hook exports for the Nix closure of SGLANG (default: `sglang` on PATH), from one nix-store walk."""
    from pathlib import Path

    from ..host import closure
    from ..util import envfile

    top, record = closure.activation_record(sglang or closure.sglang_on_path())
    if not cache_dir:
        emit(record, nl=False)
        return
    target = os.path.join(cache_dir, closure.cache_name(top))
    try:
        # 0644, not the env file's 0600: a service run as another user reads this cache too.
        envfile.write_atomic(Path(target), record, mode=0o644)
    except OSError as exc:
        raise PreflightError(f"cannot write {target} ({exc.strerror})") from None
