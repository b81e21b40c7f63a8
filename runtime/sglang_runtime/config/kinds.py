"""The kinds of value a setting holds: for each, the help text and the parser, as one row.

A parser takes the setting (its name, for the error; its choices) and the raw text, and returns the
value or raises ConfigError naming the setting, the value and what was expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from ..util import address
from ..util.errors import ConfigError
from ..util.version import parse_version


class Named(Protocol):
    env: str
    choices: tuple[str, ...]


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _int(s: Named, raw: str, lowest: int, what: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(s.env, raw, what) from None
    if value < lowest:
        raise ConfigError(s.env, raw, what)
    return value


def _port(s: Named, raw: str) -> int:
    value = _int(s, raw, 1, "an integer port from 1 to 65535")
    if value > 65535:
        raise ConfigError(s.env, raw, "an integer port from 1 to 65535")
    return value


def _chunk(s: Named, raw: str) -> int:
    if raw.strip() == "-1":
        return -1
    return _int(s, raw, 1, "a positive integer, or -1 to disable chunked prefill")


def _tp(s: Named, raw: str) -> int | str:
    if raw.strip().lower() == "auto":
        return "auto"
    return _int(s, raw, 1, "a positive integer or 'auto'")


def _nodes(s: Named, raw: str) -> int | str:
    if raw.strip().lower() == "auto":
        return "auto"
    return _int(s, raw, 1, "a positive integer or 'auto'")


def _rank(s: Named, raw: str) -> int | str:
    if raw.strip().lower() == "auto":
        return "auto"
    return _int(s, raw, 0, "an integer >= 0 or 'auto'")


def _fraction(s: Named, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(s.env, raw, "a number between 0 and 1 (exclusive)") from None
    if not 0.0 < value < 1.0:
        raise ConfigError(s.env, raw, "a number between 0 and 1 (exclusive)")
    return value


def _bool(s: Named, raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(s.env, raw, "a boolean: 1/0, true/false, yes/no or on/off")


def _json_object(s: Named, raw: str) -> str:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ConfigError(s.env, raw[:40] + "...", "a JSON object (nested too deeply)") from None
    except ValueError as exc:
        raise ConfigError(s.env, raw, f"a JSON object (not valid JSON: {getattr(exc, 'msg', 'a number too large')})") from None
    if not isinstance(value, dict):
        raise ConfigError(s.env, raw, f"a JSON object, not a JSON {type(value).__name__}")
    # SGLang re-parses it; pass the user's own text so nothing is reformatted.
    return raw


def _args(s: Named, raw: str) -> tuple[str, ...]:
    from ..util import shellwords

    try:
        return tuple(shellwords.split(raw))
    except ValueError as exc:
        raise ConfigError(s.env, raw, f"shell-like quoted arguments ({exc})") from None


def _model(s: Named, raw: str) -> str:
    # What reaches --model-path: never a flag, never a line break that could split a log or a file.
    if len(raw) > 4096:
        raise ConfigError(s.env, raw, "a Hugging Face id or a model directory of at most 4096 characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise ConfigError(s.env, raw, "a Hugging Face id or a model directory, without control characters")
    if raw.startswith("-"):
        raise ConfigError(s.env, raw, "a Hugging Face id or a model directory, not something that starts with '-'")
    return raw


# A git ref name as the Hub uses them ("main", "v2.0", "refs/pr/1"): never a way out of refs/.
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*\Z")


# huggingface_hub's validate_repo_id: an optional namespace, a name of at most 96 characters,
# no "--" or ".." anywhere. One-part ids ("gpt2") are the Hub's legacy canonical models.
_REPO_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}\Z")


def valid_repo_id(model: str) -> bool:
    return bool(_REPO_ID.match(model)) and "--" not in model and ".." not in model and not model.endswith((".", "-"))


def valid_revision(revision: str) -> bool:
    return len(revision) <= 255 and bool(_REVISION.match(revision)) and ".." not in revision


def _revision(s: Named, raw: str) -> str:
    if not valid_revision(raw.strip()):
        raise ConfigError(s.env, raw, "a branch, tag or commit name such as main, v2.0 or refs/pr/1 (no '..', no leading '/')")
    return raw.strip()


def _choice(s: Named, raw: str) -> str:
    word = raw.strip().lower()
    if word not in s.choices:
        raise ConfigError(s.env, raw, "one of " + ", ".join(s.choices))
    return word


def _version(s: Named, raw: str) -> str:
    if not parse_version(raw):
        raise ConfigError(s.env, raw, "a version such as 0.5.9")
    return raw.strip()


def _pathlist(s: Named, raw: str) -> tuple[str, ...]:
    return tuple(p for p in raw.split(":") if p)


@dataclass(frozen=True)
class Kind:
    help: str  # as the settings table and --help show it
    parse: Callable[[Named, str], Any]


KINDS: Mapping[str, Kind] = {
    "text": Kind("string", lambda s, raw: raw),
    "model": Kind("HF id or directory", _model),
    "revision": Kind("ref name or commit", _revision),
    "path": Kind("path", lambda s, raw: raw),
    "file": Kind("file path", lambda s, raw: raw),
    "pathlist": Kind("colon-separated paths", _pathlist),
    "port": Kind("port (1-65535)", _port),
    "positive_int": Kind("integer ≥ 1", lambda s, raw: _int(s, raw, 1, "a positive integer")),
    "chunk": Kind("integer ≥ 1 or -1", _chunk),
    "tp": Kind("integer ≥ 1 or auto", _tp),
    "nodes": Kind("integer ≥ 1 or auto", _nodes),
    "rank": Kind("integer ≥ 0 or auto", _rank),
    "address": Kind("host:port or auto", lambda s, raw: address.parse_address(s.env, raw)),
    "fraction": Kind("number in (0, 1)", _fraction),
    "bool": Kind("boolean", _bool),
    "json_object": Kind("JSON object", _json_object),
    "args": Kind("shell-quoted args", _args),
    "choice": Kind("choice", _choice),
    "version": Kind("version", _version),
}
