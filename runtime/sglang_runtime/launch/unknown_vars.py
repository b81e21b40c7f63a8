"""SGLANG_* variables that neither the launcher nor the SGLang release reads: typos, most often.

`SGLANG_TP=2` (meant: SGLANG_TP_SIZE) would otherwise be ignored without a
word. SGLang's own variables (its flag data's list for the release) are never
flagged; a variable only another release reads is, since this one ignores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from ..util import envfile
from . import flagdata
from ..config import settings

if TYPE_CHECKING:
    import difflib

PREFIX = "SGLANG_"
# Launcher variables that are not rows of the settings table; add a name here when a module reads one.
# SGLANG_LAUNCHER_ERROR: the on-activate hook's guard (set when the hook could not build the environment).
LAUNCHER_ONLY: frozenset[str] = frozenset({"SGLANG_LAUNCHER_ERROR"})


def launcher_names() -> frozenset[str]:
    return settings.NAMES | frozenset(envfile.KEYS) | LAUNCHER_ONLY


def _words(body: str) -> frozenset[str]:
    return frozenset(filter(None, body.split("_")))


def _one_edit(a: str, b: str) -> bool:
    """One letter dropped, added, replaced, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def _score(matcher: difflib.SequenceMatcher, typo_words: frozenset[str], name: str, floor: float) -> float:
    """similarity(), with the typo already in `matcher` (seq2); 0.0 when it cannot reach `floor`."""
    body = name[len(PREFIX):]
    matcher.set_seq1(body)
    # A slip of one key is the likeliest typo (SGLANG_MODE for SGLANG_MODEL, not SGLANG_DISAGGREGATION_MODE).
    if _one_edit(body, matcher.b):
        return 0.95 + 0.05 * matcher.ratio()
    if typo_words and typo_words <= _words(body):
        return 0.9 + 0.05 * matcher.ratio()
    if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
        return 0.0
    return matcher.ratio()


def similarity(typo: str, name: str) -> float:
    """How alike two variable names are, 0..1, judged on what follows SGLANG_ (the shared prefix
    would make every pair look alike). A name one slip of a key away scores 0.95 or more; one
    holding every word of the typo 0.9 or more: SGLANG_TP is short for SGLANG_TP_SIZE, not a
    misspelt SGLANG_DTYPE."""
    import difflib

    body = typo[len(PREFIX):]
    return _score(difflib.SequenceMatcher(None, "", body), _words(body), name, 0.0)


def suggest(name: str, ours: frozenset[str], sglangs: frozenset[str]) -> str | None:
    """The most similar launcher setting (a typo of ours is likeliest), else the most similar SGLang
    variable; ties go to the name that sorts first. None when nothing is similar enough."""
    import difflib  # only when some variable is unknown: serve stays lean

    body = name[len(PREFIX):]
    matcher = difflib.SequenceMatcher(None, "", body)  # seq2 (the typo) is analysed once
    words = _words(body)
    for pool, cutoff in ((ours, 0.7), (sglangs, 0.8)):
        best, best_score = None, cutoff
        for other in sorted(pool):
            score = _score(matcher, words, other, best_score)
            if score > best_score or (best is None and score >= best_score):
                best, best_score = other, score
        if best is not None:
            return best
    return None


def unknown(env: Mapping[str, str], release: str) -> list[tuple[str, str | None]]:
    """(variable, closest known name or None) for each SGLANG_* variable in `env` nobody reads."""
    ours = launcher_names()
    sglangs = flagdata.sglang_env_names(release)
    strays = sorted(n for n in env if n.startswith(PREFIX) and n not in ours and n not in sglangs)
    return [(name, suggest(name, ours, sglangs)) for name in strays]


def warnings(env: Mapping[str, str], release: str) -> list[str]:
    """One line per unknown variable, for stderr: a warning, never a failure."""
    data_release, _ = flagdata.choose(release)
    lines = []
    for name, close in unknown(env, release):
        hint = f"; did you mean {close}?" if close else ""
        lines.append(f"{name} is neither a launcher setting nor a variable SGLang {data_release} reads, so nothing uses it{hint}")
    return lines
