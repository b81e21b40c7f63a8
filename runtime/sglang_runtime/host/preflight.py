"""Cheap host checks before a launch: a real bind of the port, the interpreter, the model's files."""

from __future__ import annotations

import os
from pathlib import Path

from ..util.errors import PreflightError


def port_bindable(host: str, port: int) -> None:
    """Bind the port for real (what uvicorn will do); `ss`/`lsof` may not exist and can be wrong."""
    import socket  # not needed by a dry run

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PreflightError(f"SGLANG_HOST={host!r}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # As uvicorn does, so a port in TIME_WAIT from the last run is not taken for busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise PreflightError(_bind_failure(host, port, exc)) from None


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    """Say what is true: the address, the privilege, or another server."""
    import errno

    if exc.errno == errno.EADDRNOTAVAIL:
        return f"SGLANG_HOST={host!r}: not an address of this host (cannot bind {host}:{port}); use 0.0.0.0 or one of its addresses"
    if exc.errno == errno.EACCES:
        return f"SGLANG_PORT={port}: this user may not bind it (ports below 1024 need privileges); choose a port >= 1024"
    if exc.errno == errno.EADDRINUSE:
        return f"SGLANG_PORT={port}: {host}:{port} is in use; another server is running there (stop it or set SGLANG_PORT)"
    return f"SGLANG_PORT={port}: cannot bind {host}:{port} ({exc.strerror})"


def interpreter(python: str | None, requested: str) -> str:
    if not python or not os.access(python, os.X_OK):
        raise PreflightError(f"SGLANG_PYTHON={requested!r}: no such interpreter on PATH (the one that has SGLang)")
    return python


def model_readable(model_dir: Path) -> None:
    config = model_dir / "config.json"
    if not os.access(model_dir, os.R_OK | os.X_OK) or not os.access(config, os.R_OK):
        raise PreflightError(f"SGLANG_MODEL: {model_dir} is not readable by this user")
