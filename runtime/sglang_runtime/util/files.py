"""Reading the files users and bundles hand us, safely: the one way every module reads them.

Any file we read may be hostile or simply odd: a FIFO (an open for reading
blocks until a writer comes), `/dev/zero` (endless), a 10 GB log given by
mistake, binary bytes, JSON of the wrong shape or absurd nesting. Each read
here opens without blocking, insists on a regular file, stops at a size cap,
decodes strictly and checks the JSON shape, and turns every failure into
one ConfigError that names the setting and the file — never the file's
contents, which may be a secret or megabytes of noise.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from .errors import ConfigError

KiB, MiB = 1 << 10, 1 << 20
# Caps by what the file is: generous for real files, small enough to refuse a wrong one at once.
SECRET_LIMIT = 64 * KiB     # an API key file
SMALL_LIMIT = 1 * MiB       # refs/*, the env file
ARGS_LIMIT = 8 * MiB        # SGLANG_ARGS_FILE
JSON_LIMIT = 64 * MiB       # config.json, tokenizer_config.json, weight indexes (big MoE indexes reach ~10 MB)
JSON_DEPTH = 64             # real configs nest 4-5 levels


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n // KiB} KiB" if n >= KiB else f"{n} bytes"


def read_bytes(path: str | os.PathLike, setting: str, what: str, limit: int) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes; else ConfigError."""
    shown = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging.
        fd = os.open(shown, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(setting, shown, f"{what} ({exc.strerror or type(exc).__name__})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(setting, shown, f"{what} (a regular file, not {_kind(info.st_mode)})")
        if info.st_size > limit:
            raise ConfigError(setting, shown, f"{what} of at most {_size(limit)} (it has {info.st_size} bytes)")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 * MiB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while we read it
                raise ConfigError(setting, shown, f"{what} of at most {_size(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(setting, shown, f"{what} ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def read_text(path: str | os.PathLike, setting: str, what: str, limit: int) -> str:
    """UTF-8 text (a leading byte-order mark dropped, as editors on Windows add one)."""
    raw = read_bytes(path, setting, what, limit)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(setting, os.fspath(path), f"{what} in UTF-8 (byte {exc.start} is not)") from None


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def parse_json(text: str, setting: str, shown: str, what: str, expect: type = dict) -> Any:
    """JSON text -> a value of type `expect`; every failure one ConfigError naming the file."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ConfigError(setting, shown, f"{what} (JSON nested too deeply)") from None
    except ValueError as exc:
        # JSONDecodeError, and int() refusing a number of thousands of digits.
        where = f"line {exc.lineno} column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else "a number too large"
        raise ConfigError(setting, shown, f"{what} in valid JSON ({where})") from None
    if not isinstance(value, expect):
        raise ConfigError(setting, shown, f"{what} as a JSON {json_name(expect)}, not a JSON {json_name(type(value))}")
    if not _depth_ok(value, JSON_DEPTH):
        raise ConfigError(setting, shown, f"{what} (JSON nested more than {JSON_DEPTH} levels)")
    return value


def json_name(kind: type) -> str:
    return {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
            type(None): "null"}.get(kind, kind.__name__)


def read_json(path: str | os.PathLike, setting: str, what: str, limit: int = JSON_LIMIT, expect: type = dict) -> Any:
    return parse_json(read_text(path, setting, what, limit), setting, os.fspath(path), what, expect)


def read_json_if_present(path: Path, setting: str, what: str, limit: int = JSON_LIMIT, expect: type = dict) -> Any | None:
    """As read_json, but None when there is no such file (a missing optional file is not an error)."""
    if not os.path.lexists(path):
        return None
    return read_json(path, setting, what, limit, expect)


def dangling(directory: str | os.PathLike) -> str | None:
    """The first entry of a served directory that is a link to nothing (a moved or deleted source), else None."""
    try:
        for entry in os.scandir(directory):
            if entry.is_symlink() and not os.path.exists(entry.path):
                return entry.name
    except OSError:
        return None
    return None
