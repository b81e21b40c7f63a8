"""SGLANG_* variables nobody reads get one warning line with the closest name; SGLang's own never do.

Misspellings are generated (hypothesis) from every setting; the real CLI is run for the wiring.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings as hsettings, strategies as st

from conftest import clean_env, flox_env, run_cli, write_cached_repo
from sglang_runtime.util import envfile
from sglang_runtime.launch import flagdata, unknown_vars
from sglang_runtime.config import settings

RELEASES = flagdata.known()
OURS = unknown_vars.launcher_names()


def _typo(name: str, kind: str, at: int, char: str) -> str:
    body = name[len("SGLANG_"):]
    at %= len(body)
    if kind == "drop":
        body = body[:at] + body[at + 1:]
    elif kind == "double":
        body = body[:at] + body[at] + body[at:]
    elif kind == "swap" and at + 1 < len(body):
        body = body[:at] + body[at + 1] + body[at] + body[at + 2:]
    elif kind == "replace":
        body = body[:at] + char + body[at + 1:]
    elif kind == "insert":
        body = body[:at] + char + body[at:]
    return "SGLANG_" + body


KINDS = ("drop", "double", "swap", "replace", "insert")


def test_every_single_edit_of_every_setting_is_named_with_that_setting():
    release = "0.5.23"  # the largest registry: the most near misses
    """All of them, not a sample: each drop, doubling, swap, replacement and insertion at each place."""
    sglangs = flagdata.sglang_env_names(release)
    checked, wrong = 0, []
    for setting in sorted(settings.NAMES):
        for kind in KINDS:
            for at in range(len(setting) - len("SGLANG_")):
                for char in "AEZ_0":
                    typo = _typo(setting, kind, at, char)
                    if typo == setting or typo in OURS or typo in sglangs:
                        continue
                    checked += 1
                    found = unknown_vars.unknown({typo: "1"}, release)
                    if found != [(typo, setting)]:
                        wrong.append((typo, found))
    assert checked > 5000 and wrong == []


@hsettings(max_examples=300, deadline=None)
@given(setting=st.sampled_from(sorted(settings.NAMES)),
       edits=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(min_value=0, max_value=40),
                                st.sampled_from("ABEIMOSTZ_0")), min_size=1, max_size=3),
       release=st.sampled_from(RELEASES))
def test_misspelt_settings_are_warned_about_with_a_launcher_name(setting, edits, release):
    typo = setting
    for kind, at, char in edits:
        typo = _typo(typo, kind, at, char)
    assume(typo != setting and len(typo) > len("SGLANG_"))
    found = unknown_vars.unknown({typo: "2", setting.replace("SGLANG_", "OTHER_"): "x"}, release)
    if typo in OURS or typo in flagdata.sglang_env_names(release):
        assert found == []  # the typo is itself a name someone reads
        return
    assert [name for name, _ in found] == [typo]
    (_, suggestion), = found
    # Up to three edits away: the setting itself, or a launcher name at least as similar; an SGLang
    # name (or none) only when no launcher name was similar enough.
    if suggestion in OURS:
        assert suggestion == setting or unknown_vars.similarity(typo, suggestion) >= unknown_vars.similarity(typo, setting), \
            (typo, suggestion)
    else:
        assert unknown_vars.similarity(typo, setting) < 0.7, (typo, suggestion)


@pytest.mark.parametrize("version", RELEASES)
def test_sglangs_own_variables_are_never_flagged(version):
    env = {name: "1" for name in flagdata.sglang_env_names(version)}
    env.update({name: "1" for name in OURS})
    assert unknown_vars.unknown(env, version) == []


def test_the_issue_example_and_a_name_only_another_release_reads():
    assert unknown_vars.unknown({"SGLANG_TP": "2"}, "0.5.23") == [("SGLANG_TP", "SGLANG_TP_SIZE")]
    newer_only = sorted(n for n in flagdata.sglang_env_names("0.5.23") - flagdata.sglang_env_names("0.5.9")
                        if n.startswith("SGLANG_"))[0]
    assert [n for n, _ in unknown_vars.unknown({newer_only: "1"}, "0.5.9")] == [newer_only]
    assert unknown_vars.unknown({newer_only: "1"}, "0.5.23") == []
    # Not SGLANG_*: not ours to judge.
    assert unknown_vars.unknown({"SGL_TP_SIZE": "2", "HF_TOKEN": "x"}, "0.5.23") == []


def test_serve_warns_once_per_unknown_variable_and_still_runs(flox):
    env = flox_env(flox, SGLANG_MODEL="/models/m", SGLANG_TP="2", SGLANG_ENABLE_METRIC="1",
                   SGLANG_HEALTH_CHECK_TIMEOUT="30", SGLANG_VERSION="0.5.23")
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=0)
    warnings = [l for l in proc.stderr.splitlines() if l.startswith("warning:")]
    assert warnings == [
        "warning: SGLANG_ENABLE_METRIC is neither a launcher setting nor a variable SGLang 0.5.23 reads, so nothing uses it; did you mean SGLANG_ENABLE_METRICS?",
        "warning: SGLANG_TP is neither a launcher setting nor a variable SGLang 0.5.23 reads, so nothing uses it; did you mean SGLANG_TP_SIZE?",
    ]
    assert "--tp-size" not in proc.stdout


def test_resolve_model_warns_too(flox):
    write_cached_repo(flox["hf"], "org/tiny")
    env = flox_env(flox, SGLANG_MODEL="org/tiny", SGLANG_MODEL_REVSION="main")
    proc = run_cli("sglang-resolve-model", env=env, check_rc=0)
    assert "warning: SGLANG_MODEL_REVSION is neither a launcher setting nor a variable SGLang 0.5.9 reads, " \
           "so nothing uses it; did you mean SGLANG_MODEL_REVISION?" in proc.stderr.splitlines()


def test_no_warning_without_strays(flox):
    env = flox_env(flox, SGLANG_MODEL="/models/m", SGLANG_TP_SIZE="2")
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=0)
    assert "warning:" not in proc.stderr
