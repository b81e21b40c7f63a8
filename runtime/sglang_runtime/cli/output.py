"""What leaves the program: every printed line masked, every failure one line with a documented exit code.

Everything printed goes through `emit`, which applies the one masking rule (redact.mask):
every form of every secret this invocation has seen, and the value of every secret flag.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import click

from ..config import settings
from ..guest import redact
from ..util import inert
from ..util.errors import ConfigError, PreflightError

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_PREFLIGHT = 3
DEBUG = "SGLANG_RUNTIME_DEBUG"
# The secrets this invocation knows of (API keys, secret flag values, Hub tokens): never printed.
SECRETS: set[str] = set()
URL_VARIABLES = ("HF_ENDPOINT", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def masked(message: Any) -> str:
    """`message` as `emit` prints it, for a writer of its own (the start-up view): masked and inert."""
    from ..launch.argv import all_secret_flags

    return inert.block(redact.mask(str(message), SECRETS, all_secret_flags()))


def emit(message: Any = "", err: bool = False, nl: bool = True, reveal: bool = False) -> None:
    """Print, masked; `reveal` only where the user asked to see secrets (--show-secrets)."""
    # The last guard: no control sequence from any text we print reaches the terminal (util/inert.py).
    click.echo(inert.block(str(message)) if reveal else masked(message), err=err, nl=nl)


def learn_secrets(env: dict[str, str]) -> None:
    """Collect every secret the environment names, before anything can fail and quote one.
    Best effort by design: a file that cannot be read here is reported by the command itself."""
    from ..launch import argv
    from ..util import files

    for name in ("SGLANG_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if env.get(name, "").strip():
            SECRETS.update({env[name], env[name].strip()})
    # Credentials inside URLs (a proxy's, a private Hub mirror's): also where a message shows them decoded.
    for name in URL_VARIABLES:
        SECRETS.update(redact.url_secrets(env.get(name, "")))
    for i, arg in enumerate(sys.argv):
        if arg == "--url" or arg.startswith("--url="):
            SECRETS.update(redact.url_secrets(arg[len("--url="):] if "=" in arg else (sys.argv[i + 1:i + 2] or [""])[0]))
    texts = [env.get("SGLANG_EXTRA_ARGS", "")]
    for name, limit in (("SGLANG_API_KEY_FILE", files.SECRET_LIMIT), ("SGLANG_ARGS_FILE", files.ARGS_LIMIT)):
        if env.get(name):
            try:
                text = files.read_text(env[name], name, "a file", limit)
            except ConfigError:
                continue
            if name == "SGLANG_API_KEY_FILE":
                SECRETS.update({text, text.strip()} - {""})
            else:
                texts.append(text)
    for text in texts:
        SECRETS.update(argv.secret_values(text))
    # Masking a two-letter "secret" literally would garble every line; flags still hide such values.
    SECRETS.difference_update({s for s in SECRETS if len(s) < 4})


def settings_epilog() -> str:
    lines = ["\b", "Settings (environment variables; `sglang-runtime settings` shows current values):"]
    for s in settings.TABLE:
        default = f" [default: {s.default}]" if s.default is not None else ""
        lines.append(f"  {s.env}{default}")
    return "\n".join(lines)


def fail(message: str, code: int) -> None:
    # One line, whatever the message holds (a path with a newline, say).
    line = inert.line(" ".join(str(message).splitlines()))
    emit(f"{click.get_current_context().command_path}: error: {line}", err=True)
    sys.exit(code)


def reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line and a documented exit code for every way a command fails, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            learn_secrets(dict(os.environ))
            return fn(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), EXIT_CONFIG)
        except PreflightError as exc:
            fail(str(exc), EXIT_PREFLIGHT)
        except KeyboardInterrupt:
            fail("interrupted", 130)
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

                emit("".join(traceback.format_exception(exc)).rstrip(), err=True)
            hint = f"this is a bug in sglang-runtime; set {DEBUG}=1 for the traceback"
            fail(f"unexpected {type(exc).__name__}: {exc} ({hint})", EXIT_FAILED)

    return wrapper


def emit_notice(message: str) -> None:
    emit(f"notice: {message}", err=True)
