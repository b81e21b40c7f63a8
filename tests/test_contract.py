"""Contract with the real SGLang, over the whole release matrix (every final release from 0.5.9 on,
scripts/sglang-deps-*.txt): parse only, with each release's own launch_server parser.

- every argv the settings table can produce parses with the intended values in every release that
  supports the setting, and the launcher refuses it for the releases that don't (and those refuse it
  too when spelt for another release);
- the launcher's flag data (runtime/sglang_runtime/launch/releases) is what the real parsers and
  registries say now: regenerated here, any difference fails;
- what the launcher refuses in extra arguments, SGLang refuses too (or it sets what a setting
  controls), and what it lets through SGLang accepts: generated argvs, judged by both;
- no launcher variable is one SGLang reads itself, per release.

Tests parametrized over `release` run last, release by release (tests/sglang_matrix.py).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import random
import re

import pytest

import sglang_support
import sglang_support as sg
from sglang_runtime.launch import argv, flagdata
from sglang_runtime.guest import bootstrap
from sglang_runtime.util import envfile
from sglang_runtime.config import settings
from sglang_runtime.util.errors import ConfigError

RELEASES = pytest.mark.parametrize("release", sg.VERSIONS)
MODEL = {"SGLANG_MODEL": "/models/phi"}
FLAGGED = [s for s in settings.TABLE if s.flags and s.env != "SGLANG_MODEL"]
HEAD = ["--model-path", "m"]

_spec = importlib.util.spec_from_file_location("generate_flagdata", sg.SCRIPTS / "generate_flagdata.py")
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)


def typed(setting: settings.Setting, raw: str):
    return settings.parse_value(setting, raw)


def combinations() -> list[dict[str, object]]:
    combos: list[dict[str, object]] = [dict(MODEL)]
    for s in FLAGGED:
        for raw in s.examples:
            combos.append({**MODEL, s.env: typed(s, raw)})
    for a, b in itertools.combinations(FLAGGED, 2):
        for ra, rb in itertools.product(a.examples, b.examples):
            combos.append({**MODEL, a.env: typed(a, ra), b.env: typed(b, rb)})
    widest = max(len(s.examples) for s in FLAGGED)
    for i in range(widest):
        combos.append({**MODEL, **{s.env: typed(s, s.examples[i % len(s.examples)]) for s in FLAGGED}})
    return combos


def split_by_launcher(release: str) -> tuple[list[list[str]], list[dict[str, object]]]:
    accepted, refused = [], []
    for values in combinations():
        try:
            accepted.append(argv.build(values, settings.parse_version(release), "python3.12")[3:])
        except ConfigError:
            refused.append(values)
    return accepted, refused


def _cannot_express(release: str, name: str, value: object) -> bool:
    """The data says `release` has no spelling for the setting, or the value is not among its choices."""
    data = flagdata.load(release)
    setting = settings.BY_NAME[name]
    flag = argv.spelling(setting, data)
    if flag is None:
        return True
    action = data.action(flag.split()[0])
    return setting.kind != "bool" and not action.accepts(str(value))


def flag_values(tokens: list[str]) -> list[tuple[str, str | None]]:
    pairs = []
    for i, token in enumerate(tokens):
        if token.startswith("--") and "=" in token:  # a value starting with '-' is attached
            flag, _, value = token.partition("=")
            pairs.append((flag, value))
        elif token.startswith("--"):
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            pairs.append((token, None if following is None or following.startswith("--") else following))
    return pairs


def same(parsed: object, token: str | None) -> bool:
    if token is None:
        return parsed is True
    if isinstance(parsed, (dict, list)):  # SGLang parses JSON-valued flags itself
        return parsed == json.loads(token)
    return str(parsed) == token


@RELEASES
def test_every_generated_argv_parses_with_the_real_sglang(release):
    accepted, refused = split_by_launcher(release)
    # The launcher refuses only what this release cannot express, by its own parser's data.
    for values in refused:
        assert any(_cannot_express(release, n, v) for n, v in values.items() if n != "SGLANG_MODEL"), values
    results = sg.parse_argvs(release, accepted)
    failures = [(a, r.error) for a, r in zip(accepted, results) if not r.ok]
    assert not failures, f"{len(failures)} argvs rejected by SGLang {release}, first: {failures[0]}"
    # The values arrive where we meant them, not only "it parsed" (dests drift: the data says where).
    data = flagdata.load(release)
    for a, r in zip(accepted, results):
        for flag, value in flag_values(a):
            dest = data.action(flag).dest
            if value == "disabled":  # a switch setting's fixed value (--cuda-graph-backend-decode disabled)
                assert r.namespace[dest] == "disabled", (a, flag)
                continue
            assert same(r.namespace[dest], value), (a, flag, r.namespace[dest])


@RELEASES
def test_what_the_launcher_refuses_sglang_would_refuse_too(release):
    """A setting value this release cannot express is stopped by the launcher, and must be: the same
    values spelt for a release that can express them fail in this release's real parser."""
    _, refused = split_by_launcher(release)
    naive = []
    for values in refused:
        for other in reversed(sg.VERSIONS):
            try:
                naive.append(argv.build(values, settings.parse_version(other), "python3.12")[3:])
                break
            except ConfigError:
                continue
    assert len(naive) == len(refused)
    results = sg.parse_argvs(release, naive)
    assert all(not r.ok for r in results), [a for a, r in zip(naive, results) if r.ok][:3]


def test_some_release_refuses_some_generated_value():
    # Otherwise the refusal test above would pass on nothing: 0.5.9 has no 'auto' reasoning parser.
    assert split_by_launcher("0.5.9")[1]


def test_old_spelling_is_ambiguous_in_new_sglang():
    row = settings.BY_NAME["SGLANG_CUDA_GRAPH_MAX_BS"]
    old = ["--model-path", "m", row.flags[0][1], "8"]
    (result,) = sg.parse_argvs("0.5.23", [old])
    assert not result.ok and "ambiguous option" in result.error


@RELEASES
def test_no_launcher_variable_is_read_by_sglang_except_the_port(release):
    registry = sg.env_registry(release)
    assert "SGLANG_PORT" in registry, "SGLANG_PORT is SGLang's own; the launcher must keep removing it"
    # Also what the launcher itself puts in the server's environment (the bootstrap's handover)
    # and what the Flox hook exports for the service.
    internal = {bootstrap.SECRET_ARGV, bootstrap.SECRET_FLAGS, bootstrap.SECRET_FD, "SGLANG_LAUNCHER_ERROR"}
    ours = (settings.NAMES | set(envfile.KEYS) | internal) - {"SGLANG_PORT", "HF_HUB_OFFLINE"}
    assert not ours & registry, sorted(ours & registry)


# ------------------------------------------------------------------ the flag data is what SGLang says


@RELEASES
def test_flag_data_matches_the_real_release(release):
    """Regenerate the release's data from its real parser and registry: any drift fails."""
    fresh = generator.render(generator.release_data(release))
    checked_in = generator.path_for(release).read_text(encoding="utf-8")
    assert fresh == checked_in, (f"runtime/sglang_runtime/launch/releases/sglang-{release}.json is stale: "
                                 f"run .venv/bin/python scripts/generate_flagdata.py {release}")


def test_flag_data_covers_exactly_the_matrix():
    assert flagdata.known() == sg.VERSIONS


# ------------------------------------------------------------------ extra arguments: launcher vs SGLang


def _value_for(action: flagdata.Action, rng: random.Random) -> str:
    if action.choices is not None:
        return str(rng.choice(action.choices))
    return rng.choice(["1", "2", "64", "0.5", "auto", "x", "-1"])


def _extra_cases(release: str) -> list[list[str]]:
    """Argvs a user might write: real flags in every spelling (aliases, unique and ambiguous prefixes,
    --flag=value), typos, bad choices, missing values, stray values, byte-order marks."""
    data = flagdata.load(release)
    rng = random.Random(f"extra-args-{release}")
    actions = [a for a in data.actions if a.dest != "help"]
    cases = []
    for _ in range(400):
        tokens: list[str] = []
        for _ in range(rng.randint(1, 3)):
            action = rng.choice(actions)
            option = rng.choice([o for o in action.options if o.startswith("--")])
            form = rng.random()
            if form < 0.15:
                option = option[:rng.randint(3, len(option))]  # a prefix: unique, ambiguous or exact
            elif form < 0.25:
                cut = rng.randrange(2, len(option))
                option = option[:cut] + rng.choice("xz-") + option[cut + 1:]  # a typo
            elif form < 0.3:
                option = "\ufeff" + option
            if action.takes_value and rng.random() < 0.85:
                value = _value_for(action, rng) if rng.random() < 0.85 else "not-a-choice"
                tokens += [f"{option}={value}"] if rng.random() < 0.3 else [option, value]
            else:
                tokens.append(option)
            if rng.random() < 0.05:
                tokens.append("stray")
        cases.append(tokens)
    return cases


@RELEASES
def test_extra_args_are_judged_as_sglang_reads_them(release):
    data = flagdata.load(release)
    cases = _extra_cases(release)
    results = sg.parse_argvs(release, [HEAD + c for c in cases])
    managed = argv.managed(data)
    agree = {"accepted": 0, "refused": 0, "managed": 0, "sglang's own converter": 0}
    for tokens, real in zip(cases, results):
        try:
            argv.check_extra("SGLANG_EXTRA_ARGS", tokens, data)
        except ConfigError as exc:
            if ("set SGLANG_" in exc.expected and "instead" in exc.expected) or exc.expected in argv.INDIRECT.values():
                # A managed setting, or SGLang's --config (a way around the judge): SGLang may well
                # accept it; the launcher refuses it on purpose.
                agree["managed"] += 1
                continue
            assert not real.ok, f"launcher refused {tokens!r} ({exc}) but SGLang {release} accepts it"
            agree["refused"] += 1
            continue
        if not real.ok:
            # The one thing the launcher leaves to SGLang: values of flags with SGLang's own converter
            # (JSON, "1k" sizes, ...). SGLang's error must be about such a flag.
            custom = {o for a in data.actions if a.type not in (None, "int", "float", "nullable_str")
                      for o in a.options}
            about = re.search(r"error: argument ([^:]+):", real.error)
            assert about and set(about.group(1).split("/")) <= custom, \
                f"launcher let {tokens!r} through but SGLang {release} says: {real.error}"
            agree["sglang's own converter"] += 1
            continue
        # And nothing it let through sets what a setting controls.
        baseline = sg.parse_argv(release, HEAD).namespace
        changed = {d for d in managed if d != "model_path" and real.namespace.get(d) != baseline.get(d)}
        assert not changed, (tokens, changed)
        agree["accepted"] += 1
    # The generator must exercise every verdict, or this test proves little.
    assert min(agree["accepted"], agree["refused"], agree["managed"]) > 10, agree


@RELEASES
def test_every_spelling_of_a_managed_flag_sets_it_and_is_refused(release):
    """Every option string of every managed action, and every unique prefix of it, in both `--x v`
    and `--x=v` forms: SGLang really sets the managed destination, and the launcher refuses it."""
    data = flagdata.load(release)
    managed = argv.managed(data, {s.env: True for s in settings.TABLE if s.kind == "bool"})
    baseline = sg.parse_argv(release, HEAD).namespace
    checks = []
    for action in data.actions:
        if action.dest not in managed:
            continue
        # A value that differs from SGLang's default, so the namespace shows the flag took effect.
        candidates = [str(c) for c in action.choices or ()] or ["7"]
        value = next((c for c in candidates if c != str(baseline[action.dest])), None) if action.takes_value else None
        for option in action.options:
            for cut in range(3, len(option) + 1):
                spelt = option[:cut]
                reading = data.read(spelt)
                if reading.kind != flagdata.OPTION or reading.action is not action:
                    continue  # ambiguous or another flag's prefix: not this flag
                forms = [[spelt]] if value is None else [[spelt, value], [f"{spelt}={value}"]]
                checks += [(action, form) for form in forms]
    assert checks
    results = sg.parse_argvs(release, [HEAD + form for _, form in checks])
    for (action, form), real in zip(checks, results):
        assert real.ok, (form, real.error)
        assert real.namespace[action.dest] != baseline[action.dest] or action.dest == "model_path", form
        with pytest.raises(ConfigError, match=r"set SGLANG_\w+ instead"):
            argv.check_extra("SGLANG_EXTRA_ARGS", form, data, {s.env: True for s in settings.TABLE})
