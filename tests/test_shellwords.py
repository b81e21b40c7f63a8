"""shellwords.split gives exactly shlex.split's words and errors (generated inputs), in linear time."""

from __future__ import annotations

import shlex

from hypothesis import given, settings, strategies as st

from sglang_runtime.util import shellwords

# The characters that change how a line splits, plus ordinary ones.
tricky = st.text(alphabet=list("ab #'\"\\\n\t\r $=-é"), max_size=30)


def _outcome(fn, text, comments):
    try:
        return fn(text, comments=comments), None
    except ValueError as exc:
        return None, str(exc)


@given(text=tricky, comments=st.booleans())
@settings(max_examples=3000)
def test_same_words_and_errors_as_shlex(text, comments):
    assert _outcome(shellwords.split, text, comments) == _outcome(shlex.split, text, comments)


def test_a_megabyte_line_of_many_words_and_one_long_quoted_value():
    """Correctness at size; the speed itself is measured in benchmarks/args_parse.py."""
    many = " ".join(["--x", 'a"b c"d', "'e f'"] * 40000)
    assert shellwords.split(many, comments=True)[:3] == ["--x", "ab cd", "e f"]
    long_value = "--preferred-sampling-params '" + "x" * (1 << 20) + "'"
    assert len(shellwords.split(long_value)[1]) == 1 << 20
