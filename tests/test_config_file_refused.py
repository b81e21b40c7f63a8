"""SGLang's own `--config FILE.yaml` (issue 22, class 3): refused under every spelling argparse accepts, from
SGLANG_EXTRA_ARGS and from an args file, in one line that says how to pass the same flags."""

from __future__ import annotations

import pytest

from conftest import flox_env, run_cli, write_model
from sglang_runtime.launch import argv, flagdata
from sglang_runtime.util.errors import ConfigError

SPELLINGS = [["--config", "x.yaml"], ["--config=x.yaml"], ["--conf", "x.yaml"], ["--confi=x.yaml"],
             ["--config", "x.yaml", "--random-seed", "1"], ["--random-seed", "1", "--config=x.yaml"]]


@pytest.mark.parametrize("release", flagdata.known())
@pytest.mark.parametrize("tokens", SPELLINGS)
def test_config_is_refused_in_every_release_under_every_spelling(release, tokens):
    data = flagdata.load(release)
    if data.action("--config") is None:
        pytest.skip(f"SGLang {release} has no --config")  # none today: every release 0.5.9-0.5.23 has it
    reading = data.read(tokens[0] if "conf" in tokens[0] else tokens[-1])
    if reading.kind != flagdata.OPTION:
        pytest.skip(f"{tokens} is no unique prefix of --config in {release}")
    with pytest.raises(ConfigError) as err:
        argv.check_extra("SGLANG_EXTRA_ARGS", tokens, data)
    assert "no --config" in str(err.value) and "SGLANG_ARGS_FILE" in str(err.value)


def test_every_known_release_has_config_so_the_refusal_is_tested_everywhere():
    assert all(flagdata.load(r).action("--config") is not None for r in flagdata.known())


@pytest.mark.parametrize("where", ["extra", "file"])
def test_serve_refuses_config_in_one_line_before_anything_runs(flox, tmp_path, where):
    model = write_model(tmp_path / "m")
    (tmp_path / "sglang.yaml").write_text("tp-size: 4\napi-key: sk-smuggled-in-yaml\n")
    env = flox_env(flox, SGLANG_MODEL=str(model), SGLANG_VERSION="0.5.23")
    if where == "extra":
        env["SGLANG_EXTRA_ARGS"] = f"--conf={tmp_path / 'sglang.yaml'}"
    else:
        (tmp_path / "args").write_text(f"--random-seed 3\n--config {tmp_path / 'sglang.yaml'}\n")
        env["SGLANG_ARGS_FILE"] = str(tmp_path / "args")
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=2)
    assert len(proc.stderr.strip().splitlines()) == 1 and "no --config" in proc.stderr
    assert ("SGLANG_EXTRA_ARGS" if where == "extra" else "SGLANG_ARGS_FILE") in proc.stderr
