"""Typed settings + target SGLang version -> the launch_server argv. Pure: no I/O."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .errors import ConfigError
from .settings import TABLE, Setting, Version, parse_version

ENTRY = ("-m", "sglang.launch_server")
# Flags whose value is a secret, in any release: the settings marked secret, and SGLang's own
# (--admin-api-key; 0.5.23's --ssl-keyfile-password and --watermark-config, which holds keys).
SECRET_FLAGS = frozenset(
    {s.flags[i][1] for s in TABLE if s.secret for i in range(len(s.flags))}
    | {"--admin-api-key", "--ssl-keyfile-password", "--watermark-config"}
)
MASK = "***"


def secret_flags(version: Version) -> frozenset[str]:
    """The flags of `version` whose values must never be printed nor put on a command line."""
    return SECRET_FLAGS


def secret_values(text: str, secret: frozenset[str] = SECRET_FLAGS) -> set[str]:
    """Values of secret flags in free-form argument text, even text that does not parse (best effort:
    the caller only wants to know what never to print)."""
    import re
    import shlex

    found: set[str] = set()
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:
        tokens = text.split()
    found.update(value for _, value in split_secrets(tokens, secret)[1])
    for line in text.splitlines():
        for name in secret:
            for match in re.finditer(re.escape(name) + r"(?:=|\s+)(\S+)", line):
                found.add(match.group(1))
                found.add(match.group(1).strip("'\""))
    return {value for value in found if value}


def split_secrets(args: Sequence[str], secret: frozenset[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(arguments without secrets, [(secret flag, its value), ...]) from `--flag value` and `--flag=value` alike."""
    public: list[str] = []
    pairs: list[tuple[str, str]] = []
    tokens = iter(args)
    for token in tokens:
        name, eq, value = token.partition("=")
        if name not in secret:
            public.append(token)
        elif eq:
            pairs.append((name, value))
        else:
            pairs.append((name, next(tokens, "")))
    return public, pairs


def _version_text(version: Version) -> str:
    return ".".join(map(str, version))


def spelling(setting: Setting, version: Version) -> str | None:
    """The flag (with any fixed value tokens) that `version` understands, or None if it has none yet."""
    chosen = None
    for since, flag in setting.flags:
        if parse_version(since) <= version:
            chosen = flag
    return chosen


def _tokens(setting: Setting, value: Any, version: Version) -> list[str]:
    if setting.kind == "bool" and not value:
        return []
    flag = spelling(setting, version)
    if flag is None:
        first = setting.flags[0][0]
        raise ConfigError(setting.env, str(value), f"unset: SGLang {_version_text(version)} has no flag for it (needs >= {first})")
    since = setting.value_since.get(str(value))
    if since is not None and version < parse_version(since):
        raise ConfigError(
            setting.env, str(value),
            f"a value SGLang {_version_text(version)} accepts ('{value}' needs SGLang >= {since})",
        )
    tokens = flag.split()
    if setting.kind != "bool":
        tokens.append(str(value))
    return tokens


def managed_flags() -> dict[str, str]:
    """Every flag spelling a setting controls -> that setting's variable."""
    return {s.flags[i][1].split()[0]: s.env for s in TABLE for i in range(len(s.flags))}


def check_extra(origin: str, extra: Sequence[str]) -> None:
    """Refuse extra arguments that would silently fight a setting (argparse keeps the last one)."""
    managed = managed_flags()
    for token in extra:
        if not token.startswith("--") or len(token) < 3:
            continue
        name = token.split("=", 1)[0]
        for flag, env in managed.items():
            # allow_abbrev: SGLang also takes a unique prefix of a flag as the flag.
            if flag == name or flag.startswith(name):
                raise ConfigError(origin, " ".join(extra), f"no {flag} here: set {env} instead")


def build(values: Mapping[str, Any], version: Version, python: str, extra: Iterable[str] = ()) -> list[str]:
    """values: resolved setting values by variable (absent = not passed)."""
    argv = [python, *ENTRY]
    for setting in TABLE:
        if not setting.flags or setting.env not in values:
            continue
        value = values[setting.env]
        if value is None or value == "":
            continue
        argv += _tokens(setting, value, version)
    argv += list(extra)
    return argv


def masked(argv: Sequence[str], secret: frozenset[str] = SECRET_FLAGS) -> list[str]:
    out: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        name, eq, _ = token.partition("=")
        if name in secret:
            if eq:
                out.append(f"{name}={MASK}")
            else:
                out.append(token)
                hide_next = True
            continue
        out.append(token)
    return out
