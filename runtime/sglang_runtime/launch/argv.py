"""Typed settings + the SGLang release -> the launch_server argv, secrets kept apart and masked.

Pure: no I/O beyond the packaged flag data (flagdata), which says, per
release, which option strings exist, what they set, what values they take
and which carry secrets.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from . import flagdata
# The extra-argument judge (and the mask it shares) lives in extra_args.py; its names stay reachable here.
from .extra_args import BOM, INDIRECT, MASK, check_extra, managed  # noqa: F401
from ..util.errors import ConfigError
from ..config.settings import TABLE, Setting
from ..util.version import Version, parse_version

ENTRY = ("-m", "sglang.launch_server")
# The table's own secret spellings; every release's data adds its own (--admin-api-key, ...).
SECRET_FLAGS = frozenset(s.flags[i][1] for s in TABLE if s.secret for i in range(len(s.flags)))


def secret_flags(version: Version) -> frozenset[str]:
    """The flags of `version` whose values must never be printed nor put on a command line: the
    table's secret spellings and every option the release's flag data marks secret."""
    return SECRET_FLAGS | flagdata.for_version_tuple(version).secret_options


# Every known release's secret flags, for text scanned before the release is known: loading all
# releases' data would cost each command ~20 ms. tests/test_argv.py keeps it equal to the data's union.
KNOWN_SECRET_FLAGS = frozenset({"--api-key", "--admin-api-key", "--ssl-keyfile-password", "--watermark-config"})


def all_secret_flags() -> frozenset[str]:
    """Secret flags of every release the data knows: for text printed before the release is known."""
    return SECRET_FLAGS | KNOWN_SECRET_FLAGS


def secret_values(text: str, secret: frozenset[str] | None = None) -> set[str]:
    """Values of secret flags in free-form argument text, even text that does not parse (best effort:
    the caller only wants to know what never to print)."""
    import re

    secret = secret if secret is not None else all_secret_flags()

    from ..util import shellwords

    found: set[str] = set()
    try:
        tokens = shellwords.split(text, comments=True)
    except ValueError:
        tokens = text.split()
    found.update(value for _, value in split_secrets(tokens, secret)[1])
    from ..guest.redact import _prefix_pattern

    for line in text.splitlines():
        for name in secret:
            for match in re.finditer(_prefix_pattern(name) + r"(?![\w-])(?:=|\s+)(\S+)", line):
                found.add(match.group(1))
                found.add(match.group(1).strip("'\""))
    return {value for value in found if value}


def split_secrets(args: Sequence[str], secret: frozenset[str],
                  release: flagdata.Release | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """(arguments without secrets, [(secret flag, its value), ...]) from `--flag value` and `--flag=value`
    alike, and from any prefix of a secret flag that argparse would take for it.

    With `release`, a token is a secret flag exactly when that release's parser reads it as one: so
    `--ssl-keyfile` (a path, its own flag) is never taken for a prefix of `--ssl-keyfile-password`."""
    from ..guest.redact import secret_flag_for

    public: list[str] = []
    pairs: list[tuple[str, str]] = []
    tokens = iter(args)
    for token in tokens:
        name, eq, value = token.partition("=")
        if release is not None:
            reading = release.read(token)
            is_secret = reading.kind == flagdata.OPTION and (reading.action.secret or reading.option in secret)
            flag = reading.option if is_secret else None
        else:
            flag = secret_flag_for(name, secret)
        if flag is None:
            public.append(token)
        elif eq:
            pairs.append((flag, value))
        else:
            pairs.append((flag, next(tokens, "")))
    return public, pairs


def _version_text(version: Version) -> str:
    return ".".join(map(str, version))


def table_spelling(setting: Setting, version: Version) -> str | None:
    """The spelling the table's hand-written thresholds give (for docs; a test proves it agrees with spelling())."""
    chosen = None
    for since, flag in setting.flags:
        if parse_version(since) <= version:
            chosen = flag
    return chosen


def _spelling_state(flag: str, release: flagdata.Release) -> str | None:
    """'ok', 'deprecated' or None (the release lacks an option, or a fixed value is not among its choices)."""
    tokens = flag.split()
    state = "ok"
    for i, token in enumerate(tokens):
        if not token.startswith("-"):
            continue
        action = release.action(token)
        if action is None:
            return None
        value = tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith("-") else None
        if value is not None and not action.accepts(value):
            return None
        if action.deprecated:
            state = "deprecated"
    return state


def spelling(setting: Setting, release: flagdata.Release) -> str | None:
    """The newest of the setting's spellings that `release` has and does not deprecate (else one it
    still accepts though deprecated), with any fixed value tokens; None if it has none."""
    fallback = None
    for _, flag in reversed(setting.flags):
        state = _spelling_state(flag, release)
        if state == "ok":
            return flag
        if state == "deprecated" and fallback is None:
            fallback = flag
    return fallback


def _tokens(setting: Setting, value: Any, release: flagdata.Release) -> list[str]:
    if setting.kind == "bool" and not value:
        return []
    flag = spelling(setting, release)
    if flag is None:
        since = setting.flags[0][0] if setting.flags else "0"
        needs = f" ({setting.flags[0][1].split()[0]} needs SGLang >= {since})" if since != "0" else ""
        raise ConfigError(setting.env, "1" if value is True else str(value), f"unset: SGLang {release.version} has no flag for it{needs}")
    tokens = flag.split()
    if setting.kind != "bool":
        text = str(value)
        action = release.action(tokens[0])
        problem = action.problem(text) if action is not None else None
        if problem:
            since = setting.value_since.get(text)
            needs = f"; '{text}' needs SGLang >= {since}" if since else ""
            shown = MASK if setting.secret or action.secret else text
            raise ConfigError(setting.env, shown, f"a value SGLang {release.version} accepts for {tokens[0]}: {problem}{needs}")
        # A value that starts with '-' would be read as a flag; attached with '=' it never is.
        if text.startswith("-"):
            tokens[-1] = f"{tokens[-1]}={text}"
        else:
            tokens.append(text)
    return tokens


def build(values: Mapping[str, Any], version: Version, python: str, extra: Iterable[str] = ()) -> list[str]:
    """values: resolved setting values by variable (absent = not passed). Spellings come from the
    flag data of `version` (or the nearest older release the data knows)."""
    release = flagdata.for_version_tuple(version)
    argv = [python, *ENTRY]
    for setting in TABLE:
        if not setting.flags or setting.env not in values:
            continue
        value = values[setting.env]
        if value is None or value == "":
            continue
        argv += _tokens(setting, value, release)
    argv += list(extra)
    return argv


def masked(argv: Sequence[str], secret: frozenset[str] | None = None) -> list[str]:
    """`argv` with the value of every secret-bearing flag replaced by ***: `secret` (a release's
    secret_flags(); every known release's when None), under any prefix SGLang would accept as that
    flag (over-masking an ambiguous prefix is harmless)."""
    secrets = secret if secret is not None else all_secret_flags()
    out: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        name, eq, _ = token.lstrip(BOM).partition("=")
        if name in secrets or (name.startswith("--") and len(name) > 2 and any(s.startswith(name) for s in secrets)):
            if eq:
                out.append(token.partition("=")[0] + "=" + MASK)
            else:
                out.append(token)
                hide_next = True
            continue
        out.append(token)
    return out
