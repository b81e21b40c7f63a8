"""Typed settings + the SGLang release -> the launch_server argv, and extra arguments judged as SGLang reads them.

Pure: no I/O beyond the packaged flag data (flagdata), which says, per
release, which option strings exist, what they set, what values they take
and which carry secrets.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from . import flagdata
from .errors import ConfigError
from .settings import TABLE, Setting, Version, parse_version

ENTRY = ("-m", "sglang.launch_server")
# The table's own secret spellings; every release's data adds its own (--admin-api-key, ...).
SECRET_FLAGS = frozenset(s.flags[i][1] for s in TABLE if s.secret for i in range(len(s.flags)))
MASK = "***"
BOM = "\ufeff"


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

    from . import shellwords

    found: set[str] = set()
    try:
        tokens = shellwords.split(text, comments=True)
    except ValueError:
        tokens = text.split()
    found.update(value for _, value in split_secrets(tokens, secret)[1])
    from .redact import _prefix_pattern

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
    from .redact import secret_flag_for

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


# ------------------------------------------------------------------ extra arguments

def managed(release: flagdata.Release, values: Mapping[str, Any] | None = None) -> dict[str, tuple[str, str]]:
    """dest -> (setting variable, option string) for everything a setting controls in `release`.

    Every spelling a row has ever had counts, through the action it names: so
    do that action's aliases (--tensor-parallel-size), its --no- form, and
    deprecated actions that store into the same place (--cuda-graph-max-bs in
    0.5.14). Options a switch setting passes with a fixed value
    (--cuda-graph-backend-decode disabled) are the user's to set unless that
    setting is on.
    """
    values = values or {}
    out: dict[str, tuple[str, str]] = {}
    for setting in TABLE:
        for _, flag in reversed(setting.flags):
            tokens = flag.split()
            if setting.kind == "bool" and len(tokens) > 1 and not values.get(setting.env):
                continue
            for token in tokens:
                action = release.action(token) if token.startswith("-") else None
                if action is not None:
                    out.setdefault(action.dest, (setting.env, token))
    return out


class _Extra:
    """One origin's extra arguments as SGLang's parser would read them, for one-line refusals."""

    def __init__(self, origin: str, tokens: Sequence[str], release: flagdata.Release):
        self.origin = origin
        self.tokens = list(tokens)
        self.release = release
        # "--" is argparse's end of options, never read as one (it is refused below).
        self.readings = [release.read(t) if t != "--" else flagdata.Reading(flagdata.VALUE) for t in self.tokens]
        self.hidden = self._secret_positions()

    def _secret_positions(self) -> set[int]:
        # The value after a secret flag, and any stray value run right after it (a key with a space).
        hidden: set[int] = set()
        for i, r in enumerate(self.readings):
            if r.kind == flagdata.OPTION and r.action.secret and r.explicit is None:
                j = i + 1
                while j < len(self.tokens) and self.readings[j].kind == flagdata.VALUE:
                    hidden.add(j)
                    j += 1
        return hidden

    def shown(self, i: int) -> str:
        """The token as it may be printed: never a secret's value."""
        token, r = self.tokens[i], self.readings[i]
        if token == "--":
            return token
        if i in self.hidden:
            return MASK
        if "=" in token and token.lstrip(BOM).startswith("-") and not (
                r.kind == flagdata.OPTION and r.explicit is not None and not r.action.secret):
            # Only a known, non-secret flag's `=value` is shown: anything else of that shape
            # (a misspelt `--api-kee=...`, one with a space SGLang reads as a value) may hold a secret.
            return token.split("=", 1)[0] + "=" + MASK
        return token

    def refuse(self, i: int, expected: str) -> ConfigError:
        return ConfigError(self.origin, self.shown(i), expected)

    def check(self, managed_dests: Mapping[str, tuple[str, str]]) -> None:
        version = self.release.version
        # argparse reads every token first: an ambiguous prefix fails even where a value was meant.
        for i, r in enumerate(self.readings):
            if self.tokens[i] == "--":
                raise self.refuse(i, "no '--': SGLang takes no positional arguments")
            if r.kind == flagdata.AMBIGUOUS:
                raise self.refuse(i, f"one flag, as SGLang {version} reads a unique prefix as its flag "
                                     f"(this could be {', '.join(r.matches)})")
        i = 0
        while i < len(self.tokens):
            r = self.readings[i]
            if r.kind == flagdata.VALUE:
                self._stray(i, managed_dests)
            if r.kind == flagdata.UNKNOWN:
                raise self.refuse(i, self._unknown(r.option))
            action = r.action
            if action.dest == "help":
                raise self.refuse(i, "launch arguments (--help makes SGLang print its help and exit instead of "
                                     "serving; `sglang-runtime flags` lists the flags)")
            if action.dest in managed_dests:
                env, option = managed_dests[action.dest]
                raise self.refuse(i, f"no flag a setting controls (SGLang {version} reads it as {option}): set {env} instead")
            if action.refusal:
                raise self.refuse(i, f"a flag SGLang {version} still accepts (it refuses this one: {action.refusal})")
            i = self._consume(i, r)

    def _stray(self, i: int, managed_dests: Mapping[str, tuple[str, str]]) -> None:
        token = self.tokens[i]
        if token.startswith(BOM) and i not in self.hidden:
            stripped = token.lstrip(BOM)
            r = self.release.read(stripped)
            if r.kind == flagdata.OPTION and r.action.dest in managed_dests:
                env, option = managed_dests[r.action.dest]
                name = stripped.split("=", 1)[0]
                reads = f" (SGLang {self.release.version} reads {name} as {option})" if name != option else ""
                raise self.refuse(i, f"no flag a setting controls, even after a byte-order mark{reads}: set {env} instead")
            raise self.refuse(i, "no byte-order mark (U+FEFF) before a flag: SGLang would read it as a stray value")
        raise self.refuse(i, "a flag here: SGLang takes no positional arguments (a value follows its flag)")

    def _unknown(self, name: str) -> str:
        version = self.release.version
        elsewhere = [r for r in flagdata.known() if r != version and flagdata.load(r).action(name) is not None]
        if elsewhere:
            known = flagdata.known()
            span = known[known.index(elsewhere[0]):known.index(elsewhere[-1]) + 1]
            contiguous = [r for r in span if r != version] == elsewhere
            where = (elsewhere[0] if len(elsewhere) == 1 else
                     f"{elsewhere[0]} to {elsewhere[-1]}" if contiguous else ", ".join(elsewhere))
            return f"a flag SGLang {version} has (only SGLang {where} {'has' if len(elsewhere) == 1 else 'have'} {name})"
        import difflib  # only on this error path: serve stays lean

        close = difflib.get_close_matches(name, [o for o in self.release.options if o.startswith("--")], n=3, cutoff=0.75)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"a flag SGLang {version} has{hint}"

    def _consume(self, i: int, r: flagdata.Reading) -> int:
        """Check the values `r`'s option takes, as argparse consumes them; return the next option's index."""
        action, nargs, option = r.action, r.action.nargs, r.option
        if r.explicit is not None:
            if nargs == 0:
                raise self.refuse(i, f"no value: {option} is a switch")
            if isinstance(nargs, int) and nargs > 1:
                raise self.refuse(i, f"{nargs} values after {option}, not one after '='")
            values, following = [(i, r.explicit)], i + 1
        else:
            run = 0
            while i + 1 + run < len(self.tokens) and self.readings[i + 1 + run].kind == flagdata.VALUE:
                run += 1
            if isinstance(nargs, int):
                need = take = nargs
            else:  # "?" takes one if there is one, "*" and "+" all there are ("+" at least one)
                need, take = (1 if nargs == "+" else 0), (min(run, 1) if nargs == "?" else run)
            if run < need:
                what = "a value" if need == 1 else f"{need} values"
                raise self.refuse(i, f"{what} after {option} (SGLang reads the next token as a flag or finds none)")
            values = [(j, self.tokens[j]) for j in range(i + 1, i + 1 + take)]
            following = i + 1 + take
        for j, value in values:
            problem = action.problem(value)
            if problem:
                shown = MASK if action.secret else value
                raise ConfigError(self.origin, shown if j != i else self.shown(i),
                                  f"{problem} for {option} (SGLang {self.release.version})")
        return following


def check_extra(origin: str, extra: Sequence[str], release: flagdata.Release | None = None,
                values: Mapping[str, Any] | None = None) -> None:
    """Refuse, in one line naming `origin` and the token, extra arguments SGLang would refuse
    (unknown flag, ambiguous prefix, missing value, a value not among its choices, a stray value)
    or that set what a setting controls, under any spelling SGLang accepts. Secret values are
    never quoted. `values`: the settings that are set (a switch's fixed-value flags are free when it is off)."""
    release = release or flagdata.load(flagdata.known()[-1])
    _Extra(origin, extra, release).check(managed(release, values))


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
