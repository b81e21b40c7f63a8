"""SGLANG_EXTRA_ARGS and SGLANG_ARGS_FILE judged as SGLang's own parser reads them: a managed flag
under any spelling SGLang accepts (prefixes, `=` forms, a BOM), a secret never quoted, an option that
reads more options out of sight refused. Pure: the release's flag data in, a ConfigError or nothing out.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from . import flagdata
from ..config.settings import TABLE
from ..util.errors import ConfigError

MASK = "***"
BOM = "\ufeff"
# Options that read more options from elsewhere, out of the judge's sight: refused, with how to pass the
# same. sglang/srt/server_args.py (0.5.9 to 0.5.23): `--config FILE.yaml` turns every YAML key into a
# flag (ConfigArgumentMerger), so `tp-size: 4` or `api-key: K` there would pass unjudged and unredacted.
INDIRECT = {"config": "no --config: SGLang would read every key of that YAML file as a flag, unjudged (managed "
                      "flags, keys it would log in clear); put the same flags in SGLANG_ARGS_FILE or SGLANG_EXTRA_ARGS"}


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
            if action.dest in INDIRECT:
                raise self.refuse(i, INDIRECT[action.dest])
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
