"""The settings table: parsing, defaults, and docs/settings.md kept equal to it."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from sglang_runtime.config import settings
from sglang_runtime.util.errors import ConfigError


@pytest.mark.parametrize("word,value", [("1", True), ("TRUE", True), ("Yes", True), ("on", True),
                                        ("0", False), ("false", False), ("NO", False), ("Off", False)])
def test_booleans(word, value):
    assert settings.load({"SGLANG_ENABLE_METRICS": word}).get("SGLANG_ENABLE_METRICS") is value


def test_empty_means_not_passed_and_defaults_apply():
    loaded = settings.load({"SGLANG_DTYPE": "", "SGLANG_TP_SIZE": "  ", "FLOX_ENV_CACHE": "/c"})
    assert "SGLANG_DTYPE" not in loaded and "SGLANG_TP_SIZE" not in loaded
    assert loaded.get("SGLANG_HOST") == "0.0.0.0" and loaded.get("SGLANG_PORT") == 30000
    assert loaded.get("SGLANG_MODEL_ENV_FILE") == "/c/sglang-model.env"
    assert loaded.get("SGLANG_RUNTIME_CACHE") == "/c"


def test_defaults_without_flox_fall_back_to_the_user_cache():
    assert settings.load({}).get("SGLANG_MODEL_ENV_FILE") == settings.FALLBACK_CACHE + "/sglang-model.env"


def test_typed_values():
    loaded = settings.load({"SGLANG_TP_SIZE": "AUTO", "SGLANG_MEM_FRACTION_STATIC": "0.93", "SGLANG_CHUNKED_PREFILL_SIZE": "-1",
                            "SGLANG_EXTRA_ARGS": "--a 'b c'", "SGLANG_MODEL_PATH": "/x::/y", "SGLANG_LOG_LEVEL": "WARNING"})
    assert loaded.get("SGLANG_TP_SIZE") == "auto"
    assert loaded.get("SGLANG_MEM_FRACTION_STATIC") == 0.93
    assert loaded.get("SGLANG_CHUNKED_PREFILL_SIZE") == -1
    assert loaded.get("SGLANG_EXTRA_ARGS") == ("--a", "b c")
    assert loaded.get("SGLANG_MODEL_PATH") == ("/x", "/y")
    assert loaded.get("SGLANG_LOG_LEVEL") == "warning"


@pytest.mark.parametrize("name,raw", [("SGLANG_MEM_FRACTION_STATIC", "0"), ("SGLANG_MEM_FRACTION_STATIC", "1"),
                                      ("SGLANG_CHUNKED_PREFILL_SIZE", "0"), ("SGLANG_LOG_LEVEL", "loud"),
                                      ("SGLANG_TOKENIZER_SHIM", "sometimes"), ("SGLANG_VERSION", "latest"),
                                      ("SGLANG_CONTEXT_LENGTH", "8k"), ("SGLANG_PORT", "-5")])
def test_rejected_values_name_setting_and_value(name, raw):
    with pytest.raises(ConfigError) as caught:
        settings.load({name: raw})
    assert str(caught.value).startswith(f"{name}={raw!r}: expected ")
    assert "\n" not in str(caught.value)


def test_parse_version():
    assert settings.parse_version("0.5.10rc1") == (0, 5, 10)
    assert settings.parse_version("0.5.9.post2") == (0, 5, 9)
    assert settings.parse_version("0.5.16") > settings.parse_version("0.5.9")


def test_every_row_is_well_formed():
    assert len(settings.NAMES) == len(settings.TABLE)
    for s in settings.TABLE:
        assert re.fullmatch(r"SGLANG_[A-Z0-9_]+", s.env), s.env
        assert s.help.endswith((".", ")")), s.env
        if s.default is not None:
            settings.parse_value(s, s.default.replace("$FLOX_ENV_CACHE", "/c"))
        for example in s.examples:
            settings.parse_value(s, example)
        if s.flags:
            assert s.examples, f"{s.env} has a flag but no examples for the contract tests"
            sinces = [since for since, _ in s.flags]
            assert sinces == sorted(sinces, key=settings.parse_version), s.env


def test_the_settings_page_table_matches_the_code():
    page = (REPO / "docs" / "settings.md").read_text()
    begin, end = "<!-- settings-table:begin -->\n", "<!-- settings-table:end -->"
    assert begin in page and end in page
    table = page.split(begin, 1)[1].split(end, 1)[0]
    assert table == settings.markdown_table(), "docs/settings.md is stale: regenerate with `sglang-runtime settings --markdown`"
