"""The one piece of the launcher that runs INSIDE SGLang's processes: secrets in, secrets out of the log.

`sglang-serve` starts the server as

    <python> .../sglang_runtime/bootstrap.py <launch_server arguments without secrets>

with the secret arguments (`--api-key K`, `--admin-api-key K2`, ...) as a JSON
list written into a pipe whose read end it inherits, its number in SECRET_FD
(or, from other callers, the list itself in the variable SECRET_ARGV). So no
secret is ever on a command line (`/proc/<pid>/cmdline` is world-readable) nor
in the environment the server was started with (`/proc/<pid>/environ` keeps
the environment of the exec, whatever the process unsets later). This file
then, in the server's main process:

1. takes SECRET_ARGV out of the environment, and every other variable that holds a
   secret in any form (the launcher drops them already; this is for any other caller),
   so no process SGLang starts (multiprocessing, subprocess, compilers) inherits one;
2. wraps stdout and stderr (fd-level objects and `sys.__std*__` too) in a
   redactor that replaces every form of every secret with `***` — before
   SGLang configures logging, so every handler SGLang or uvicorn builds later
   writes through it, whatever they replace;
3. appends the secret arguments to `sys.argv` (SGLang parses
   `sys.argv[1:]`, so it still enforces the keys), starts the weight
   prefetch the launcher handed over (prefetch.py, a daemon thread), and runs
   `sglang.launch_server` as `__main__`.

SGLang starts its scheduler and detokenizer with multiprocessing's "spawn":
each child re-runs THIS file as `__mp_main__` with the parent's `sys.argv`
(sent over a pipe, never a command line). The module-level code below then
installs the same redactor in the child from the secret flags' values in
`sys.argv`, before the child unpickles anything. The names of the secret flags
(not their values) travel in SECRET_FLAGS, which children do inherit.

Standard library only, and Python 3.10 syntax: this runs under the serving
interpreter (the Flox closure's python3.12), not the launcher's, and it must
not import anything that could shadow SGLang's own modules.
"""

from __future__ import annotations

import sys

# Run as a script, this file's directory is sys.path[0]; it holds the launcher's modules
# (settings.py, query.py, ...), which must never shadow a module SGLang imports.
if __name__ in ("__main__", "__mp_main__") and sys.path:
    import os.path as _p

    _here = _p.dirname(_p.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if _p.abspath(entry or ".") != _here]

import atexit  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

SECRET_ARGV = "_SGLANG_RUNTIME_SECRET_ARGV"
SECRET_FLAGS = "_SGLANG_RUNTIME_SECRET_FLAGS"
SECRET_FD = "_SGLANG_RUNTIME_SECRET_FD"


def _sibling(name: str):
    """A module beside this file, loaded by path: run as a script, this package is not importable
    (and this directory is off sys.path, see above)."""
    if __package__:
        import importlib

        return importlib.import_module(f"{__package__}.{name}")
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_sglang_runtime_{name}", os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


redact = _sibling("redact")
forms = redact.forms


def install(secrets) -> None:
    """Route sys.stdout/sys.stderr (and sys.__stdout__/sys.__stderr__) through redactors."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if current is None or isinstance(getattr(current, "buffer", None), redact.RedactingWriter):
            continue
        current.flush()
        sink = getattr(current, "buffer", current)
        encoding = getattr(current, "encoding", None) or "utf-8"
        writer = redact.RedactingWriter(sink, secrets, encoding)
        # The replaced stream must stay referenced: collected, it would close the fd we write to.
        writer.replaced = current
        wrapped = io.TextIOWrapper(writer, encoding=encoding, errors="backslashreplace",
                                   line_buffering=True, write_through=True)
        setattr(sys, name, wrapped)
        setattr(sys, f"__{name}__", wrapped)
        atexit.register(_drain, wrapped, writer)


def _drain(wrapped, writer) -> None:
    try:
        wrapped.flush()
        writer.drain()
    except (OSError, ValueError):
        pass


def secrets_in_argv(argv, flags) -> list[str]:
    """Values of the given flags in an argv (`--flag value` or `--flag=value`)."""
    found = []
    for i, token in enumerate(argv):
        name, eq, value = token.partition("=")
        if name in flags:
            if eq:
                found.append(value)
            elif i + 1 < len(argv):
                found.append(argv[i + 1])
    return found


def _flags_from_env() -> list[str]:
    try:
        flags = json.loads(os.environ.get(SECRET_FLAGS, "[]"))
    except ValueError:
        return []
    return [f for f in flags if isinstance(f, str)] if isinstance(flags, list) else []


def holding_secrets(env, secrets) -> list[str]:
    """Names of the variables of `env` whose value holds any form of any of `secrets`."""
    # A value shorter than 4 characters would match half the environment (PATH...): the launcher drops its sources by name.
    secrets = [s for s in secrets if len(s) >= 4]
    if not secrets:
        return []
    return [name for name, value in env.items() if name != SECRET_ARGV and redact.redact_text(value, secrets) != value]


def _read_handover() -> str:
    """The JSON list of secret arguments: from the pipe SECRET_FD names (read to its end, closed), else SECRET_ARGV."""
    fd_text = os.environ.pop(SECRET_FD, "")
    raw = os.environ.pop(SECRET_ARGV, "")
    if not fd_text:
        return raw
    try:
        fd = int(fd_text)
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(fd)
        return b"".join(chunks).decode("utf-8")
    except (ValueError, OSError):
        return "not a list"


def main() -> None:
    raw = _read_handover()
    try:
        secret_argv = json.loads(raw) if raw else []
    except ValueError:
        secret_argv = None
    if not isinstance(secret_argv, list) or not all(isinstance(t, str) for t in secret_argv):
        sys.stderr.write(f"sglang-runtime bootstrap: {SECRET_ARGV} (or the pipe {SECRET_FD} names) is not a JSON list of strings; not starting\n")
        raise SystemExit(2)
    secrets = secrets_in_argv(secret_argv, _flags_from_env())
    for name in holding_secrets(os.environ, secrets):
        del os.environ[name]
    install(secrets)
    sys.argv = [sys.argv[0], *sys.argv[1:], *secret_argv]
    # Before SGLang's imports: the weight files are read into the page cache while they run.
    _sibling("prefetch").start(os.environ, lambda line: sys.stderr.write(line))
    import runpy

    # alter_sys=False keeps this file as __main__, so spawned children re-run it (and redact).
    runpy.run_module("sglang.launch_server", run_name="__main__", alter_sys=False)


if __name__ == "__main__":
    main()
elif __name__ == "__mp_main__":
    install(secrets_in_argv(sys.argv, _flags_from_env()))
