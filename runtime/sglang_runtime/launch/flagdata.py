"""SGLang's own flags and environment variables, per release, as data: no SGLang import.

`releases/sglang-VERSION.json` holds, for one release, every action of its
real `launch_server` parser (option strings, dest, values taken, choices,
secret and deprecated marks) and every variable SGLang reads itself. They are
written by scripts/generate_flagdata.py from the installed releases, and a
test regenerates them and fails on any difference. A command loads the one
file it needs, on first use (about a millisecond).

`Release.read` reads one token as argparse does (exact option, `--opt=value`,
unique prefix under allow_abbrev, ambiguous prefix), so the launcher can
judge extra arguments the way SGLang will, before SGLang spends tens of
seconds importing.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Mapping

from ..util import files
from ..util.errors import ConfigError
from ..util.version import Version, parse_version

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "releases")
_PREFIX, _SUFFIX = "sglang-", ".json"
# argparse: a token like -1 or -.5 is a value, not an option, unless some option looks like one.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")

# What Release.read makes of one token.
OPTION, AMBIGUOUS, UNKNOWN, VALUE = "option", "ambiguous", "unknown", "value"


class Action:
    """One argparse action: all its option strings set `dest`. (Plain slotted classes here: the
    dataclass machinery alone would cost `sglang-serve` milliseconds at import.)"""

    __slots__ = ("options", "dest", "nargs", "type", "choices", "marks", "refusal")

    def __init__(self, options: tuple[str, ...], dest: str, nargs: int | str, type: str | None,
                 choices: tuple[str | int | float, ...] | None, marks: str, refusal: str | None = None):
        self.options = options
        self.dest = dest
        self.nargs = nargs  # 0, n, or argparse's "?", "*", "+"
        self.type = type  # None: text; "int", "float"; else the name of SGLang's own converter
        self.choices = choices
        self.marks = marks
        self.refusal = refusal  # SGLang's message when the parser fails on any use of this flag

    def __repr__(self) -> str:
        return f"Action({self.options!r}, dest={self.dest!r}, nargs={self.nargs!r})"

    @property
    def secret(self) -> bool:
        return "s" in self.marks

    @property
    def deprecated(self) -> bool:
        return "d" in self.marks

    @property
    def takes_value(self) -> bool:
        return self.nargs != 0

    def problem(self, value: str) -> str | None:
        """What `value` should have been, if argparse would refuse it; None if it passes, or if only
        SGLang's own converter (a custom type) can tell."""
        converted: object = value
        if self.type == "int":
            try:
                converted = int(value)
            except ValueError:
                return "an integer"
        elif self.type == "float":
            try:
                converted = float(value)
            except ValueError:
                return "a number"
        elif self.type == "nullable_str":
            converted = None if not value or value == "None" else value
        elif self.type is not None:
            return None
        if self.choices is not None and converted not in self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        return None

    def accepts(self, value: str) -> bool:
        return self.problem(value) is None


class Reading:
    """What argparse makes of a token: an option (with the string it matched and any `=value`),
    an ambiguous prefix (with its matches), an unknown option, or a value."""

    __slots__ = ("kind", "action", "option", "explicit", "matches")

    def __init__(self, kind: str, action: Action | None = None, option: str | None = None,
                 explicit: str | None = None, matches: tuple[str, ...] = ()):
        self.kind = kind
        self.action = action
        self.option = option
        self.explicit = explicit
        self.matches = matches


class Release:
    """One release's data. Actions are built on first use: a launch looks at a few dozen of ~500."""

    def __init__(self, version: str, rows: list, env: list[str], refused: Mapping[str, str]):
        self.version = version
        self._rows = rows
        self._built: list[Action | None] = [None] * len(rows)
        self._refused = refused
        self._env_list = env
        # option string -> row, in the parser's order (argparse lists ambiguous matches in it)
        self._index = {option: i for i, row in enumerate(rows) for option in row[0].split()}
        self.secret_options = frozenset(o for row in rows if "s" in row[5] for o in row[0].split())

    @functools.cached_property
    def env(self) -> frozenset[str]:
        return frozenset(self._env_list)

    @property
    def options(self) -> tuple[str, ...]:
        """Every option string, in the parser's order."""
        return tuple(self._index)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(self._action(i) for i in range(len(self._rows)))

    def _action(self, i: int) -> Action:
        action = self._built[i]
        if action is None:
            options, dest, nargs, type_, choices, marks = self._rows[i]
            names = tuple(options.split())
            action = self._built[i] = Action(names, dest, nargs, type_, tuple(choices) if choices is not None else None,
                                             marks, self._refused.get(names[0]) if names else None)
        return action

    def action(self, option: str) -> Action | None:
        i = self._index.get(option)
        return None if i is None else self._action(i)

    def read(self, token: str) -> Reading:
        """As argparse.ArgumentParser._parse_optional (Python 3.11-3.13) reads one token."""
        if not token or token[0] != "-":
            return Reading(VALUE)
        if token in self._index:
            return Reading(OPTION, self.action(token), token)
        if len(token) == 1:
            return Reading(VALUE)
        name, eq, value = token.partition("=")
        if eq and name in self._index:
            return Reading(OPTION, self.action(name), name, value)
        matches = self._prefix_matches(token)
        if len(matches) > 1:
            return Reading(AMBIGUOUS, matches=tuple(option for option, _ in matches))
        if matches:
            option, explicit = matches[0]
            return Reading(OPTION, self.action(option), option, explicit)
        if _NEGATIVE_NUMBER.match(token) and not any(_NEGATIVE_NUMBER.match(o) for o in self._index):
            return Reading(VALUE)
        if " " in token:
            return Reading(VALUE)
        return Reading(UNKNOWN, option=name)

    def _prefix_matches(self, token: str) -> list[tuple[str, str | None]]:
        # argparse._get_option_tuples with allow_abbrev (every release has it on; the generator checks).
        if token[1] == "-":
            prefix, eq, value = token.partition("=")
            explicit = value if eq else None
            return [(o, explicit) for o in self._index if o.startswith(prefix)]
        short, rest = token[:2], token[2:]
        return [(o, rest if o == short else None) for o in self._index if o == short or o.startswith(token)]


@functools.cache
def known() -> tuple[str, ...]:
    """The releases there is data for, oldest first."""
    names = [n[len(_PREFIX):-len(_SUFFIX)] for n in os.listdir(DATA_DIR) if n.startswith(_PREFIX) and n.endswith(_SUFFIX)]
    return tuple(sorted(names, key=parse_version))


def choose(version: str) -> tuple[str, str | None]:
    """(the release whose data to use for SGLang `version`, a notice or None).

    The exact release, else the nearest older one; a release newer than all
    the data is treated as the newest known one, and one outside the data
    as the nearest end, each with one notice. Never refuses.
    """
    releases = known()
    wanted = parse_version(version)
    older = [r for r in releases if parse_version(r) <= wanted]
    if not older:
        oldest = releases[0]
        return oldest, (f"SGLang {version} is older than the oldest release the launcher has flag data for; "
                        f"checking flags and spelling settings as for SGLang {oldest}")
    chosen = older[-1]
    if chosen == releases[-1] and wanted > parse_version(chosen):
        return chosen, (f"SGLang {version} is newer than the launcher's flag data ({releases[0]} to {chosen}); "
                        f"checking flags and spelling settings as for SGLang {chosen}")
    return chosen, None


@functools.cache
def load(release: str) -> Release:
    """One release's data (ConfigError, naming the file, if it is missing or broken)."""
    path = os.path.join(DATA_DIR, f"{_PREFIX}{release}{_SUFFIX}")
    what = f"the launcher's flag data for SGLang {release}"
    # Our own generated file: the safe reader (regular file, size cap, UTF-8), then a shape check;
    # its JSON depth walk would cost serve a millisecond for nothing.
    text = files.read_text(path, "SGLANG_VERSION", what, files.SMALL_LIMIT)
    try:
        data = json.loads(text)
        rows, env, refused, version = data["actions"], data["env"], data.get("refused", {}), data["sglang"]
        if not (isinstance(rows, list) and all(isinstance(r, list) and len(r) == 6 for r in rows)
                and isinstance(env, list) and isinstance(refused, dict) and version == release):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise ConfigError("SGLANG_VERSION", path, f"{what} as scripts/generate_flagdata.py writes it") from None
    return Release(version, rows, env, refused)


def for_version(version: str) -> tuple[Release, str | None]:
    """The data to use for SGLang `version` and a notice when it is not that release's own."""
    release, notice = choose(version)
    return load(release), notice


def for_version_tuple(version: Version) -> Release:
    return load(choose(".".join(map(str, version)))[0])


def secret_flags(release: str) -> frozenset[str]:
    """Every option string of `release` whose value is a secret (--api-key, --admin-api-key, ...)."""
    return load(choose(release)[0]).secret_options


@functools.cache
def all_secret_flags() -> frozenset[str]:
    """Secret option strings of every known release: for text printed when the release is not known."""
    return frozenset().union(*(secret_flags(r) for r in known()))


def sglang_env_names(release: str) -> frozenset[str]:
    """The environment variables SGLang `release` reads itself (its Envs class and SGLANG_*/SGL_* literals)."""
    return load(choose(release)[0]).env
