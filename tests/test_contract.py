"""Contract with the real SGLang: every argv the settings table can produce parses with the real
launch_server parser of 0.5.9 (what the manifest pins) and 0.5.23 (the newest release), and no
launcher variable is one SGLang reads itself — checked against SGLang's real Envs registry.

The argvs are generated from the table: every example value of every setting alone, every pair
of settings with every pair of their example values (pairwise coverage), and everything at once.
"""

from __future__ import annotations

import itertools
import json

import pytest

import sglang_support
from sglang_runtime import bootstrap, argv, envfile, settings
from sglang_runtime.errors import ConfigError

VERSIONS = ("0.5.9", "0.5.23")
MODEL = {"SGLANG_MODEL": "/models/phi"}
FLAGGED = [s for s in settings.TABLE if s.flags and s.env != "SGLANG_MODEL"]


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


def split_by_launcher(version: str) -> tuple[list[list[str]], list[dict[str, object]]]:
    accepted, refused = [], []
    for values in combinations():
        try:
            accepted.append(argv.build(values, settings.parse_version(version), "python3.12")[3:])
        except ConfigError:
            refused.append(values)
    return accepted, refused


@pytest.mark.parametrize("version", VERSIONS)
def test_every_generated_argv_parses_with_the_real_sglang(version):
    accepted, refused = split_by_launcher(version)
    # The launcher refuses only values this release cannot express (value_since), nothing else.
    v = settings.parse_version(version)
    for values in refused:
        assert any(str(val) in settings.BY_NAME[name].value_since
                   and v < settings.parse_version(settings.BY_NAME[name].value_since[str(val)])
                   for name, val in values.items()), values
    assert len(accepted) + len(refused) == len(combinations())
    results = sglang_support.parse_argvs(version, accepted)
    failures = [(a, r.error) for a, r in zip(accepted, results) if not r.ok]
    assert not failures, f"{len(failures)} argvs rejected by SGLang {version}, first: {failures[0]}"
    # The values arrive where we meant them, not only "it parsed".
    for a, r in zip(accepted, results):
        for flag, value in flag_values(a):
            dest = flag[2:].replace("-", "_")
            dest = dest if dest in r.namespace else DEST_ALIASES[dest]
            assert same(r.namespace[dest], value), (a, flag, r.namespace[dest])


def same(parsed: object, token: str | None) -> bool:
    if token is None:
        return parsed is True
    if isinstance(parsed, (dict, list)):  # SGLang parses JSON-valued flags itself
        return parsed == json.loads(token)
    return str(parsed) == token


# Where a release stores a flag under another name than the flag's own.
DEST_ALIASES = {"tp_size": "tensor_parallel_size"}


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


@pytest.mark.parametrize("version", VERSIONS)
def test_what_the_launcher_refuses_sglang_would_refuse_too(version):
    """An argv for a version the setting cannot express is stopped by the launcher — and it must be
    stopped: the same setting spelt for another release fails in the real parser of this one."""
    _, refused = split_by_launcher(version)
    naive = []
    for values in refused:
        for other in VERSIONS:
            try:
                naive.append(argv.build(values, settings.parse_version(other), "python3.12")[3:])
                break
            except ConfigError:
                continue
    if version == "0.5.9":
        assert refused, "0.5.9 must refuse some generated values (e.g. reasoning parser 'auto')"
    results = sglang_support.parse_argvs(version, naive)
    assert all(not r.ok for r in results), [a for a, r in zip(naive, results) if r.ok][:3]


def test_old_spelling_is_ambiguous_in_new_sglang():
    old = argv.build({**MODEL, "SGLANG_CUDA_GRAPH_MAX_BS": 8}, (0, 5, 9), "p")[3:]
    (result,) = sglang_support.parse_argvs("0.5.23", [old])
    assert not result.ok and "ambiguous option" in result.error


@pytest.mark.parametrize("version", VERSIONS)
def test_no_launcher_variable_is_read_by_sglang_except_the_port(version):
    registry = sglang_support.env_registry(version)
    assert "SGLANG_PORT" in registry, "SGLANG_PORT is SGLang's own; the launcher must keep removing it"
    # Also what the launcher itself puts in the server's environment (the bootstrap's handover)
    # and what the Flox hook exports for the service.
    internal = {bootstrap.SECRET_ARGV, bootstrap.SECRET_FLAGS, "SGLANG_LAUNCHER_ERROR"}
    ours = (settings.NAMES | set(envfile.KEYS) | internal) - {"SGLANG_PORT", "HF_HUB_OFFLINE"}
    assert not ours & registry, sorted(ours & registry)
