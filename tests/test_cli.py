"""The real console scripts, run as subprocesses: resolve-model, serve, settings; exit codes and bad input."""

from __future__ import annotations

import json
import shlex
import socket
from pathlib import Path

import pytest

from sglang_runtime.launch import plan as launch

from conftest import files_under, flox_env, lines, no_notice, run_cli, write_cached_repo, write_model

MODEL = "microsoft/Phi-4-mini-instruct-FP8-TORCHAO"


def dry_run_argv(env: dict[str, str], *extra: str) -> list[str]:
    proc = run_cli("sglang-serve", "--dry-run", "--json", *extra, env=env, check_rc=0)
    return json.loads(proc.stdout)["argv"]


def flag_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_bundled_model_resolves_and_serves(flox):
    snapshot = write_cached_repo(flox["hub"], MODEL, shards=3)
    env = flox_env(flox, SGLANG_MODEL=MODEL)
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    envfile = flox["cache"] / "sglang-model.env"
    assert envfile.stat().st_mode & 0o777 == 0o600
    text = envfile.read_text()
    assert "HF_HUB_OFFLINE=1" in text and f"SGLANG_BUNDLED_FROM={MODEL}" in text

    proc = run_cli("sglang-serve", "--dry-run", "--json", env=env, check_rc=0)
    plan = json.loads(proc.stdout)
    argv = plan["argv"]
    assert argv[1:3] == ["-m", "sglang.launch_server"]
    assert flag_value(argv, "--model-path") == str(snapshot)
    assert flag_value(argv, "--served-model-name") == MODEL
    assert flag_value(argv, "--host") == "0.0.0.0" and flag_value(argv, "--port") == "30000"
    assert plan["env"]["HF_HUB_OFFLINE"] == "1"
    cache = flox["cache"]
    assert plan["env"]["FLASHINFER_WORKSPACE_BASE"] == str(cache / "flashinfer")
    assert plan["env"]["SGLANG_CACHE_DIR"] == str(cache / "sglang")
    assert {"TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"} <= plan["env"].keys()


def test_sglang_port_never_reaches_the_server(flox):
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_PORT="31234")
    plan = json.loads(run_cli("sglang-serve", "--dry-run", "--json", env=env, check_rc=0).stdout)
    assert flag_value(plan["argv"], "--port") == "31234"
    assert plan["unset"] == ["SGLANG_PORT"]
    assert "SGLANG_PORT" not in plan["env"]


def test_user_cache_dirs_are_kept(flox):
    env = flox_env(flox, SGLANG_MODEL=MODEL, TRITON_CACHE_DIR="/somewhere/triton", SGLANG_RUNTIME_CACHE=str(flox["cache"] / "rc"))
    plan = json.loads(run_cli("sglang-serve", "--dry-run", "--json", env=env, check_rc=0).stdout)
    assert "TRITON_CACHE_DIR" not in plan["env"]
    assert plan["env"]["FLASHINFER_WORKSPACE_BASE"] == str(flox["cache"] / "rc" / "flashinfer")


def test_stale_env_file_is_refused(flox):
    write_cached_repo(flox["hub"], MODEL)
    run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL=MODEL), check_rc=0)
    proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL="other/model"), check_rc=2)
    message = no_notice(lines(proc.stderr))
    assert len(message) == 1 and "SGLANG_MODEL='other/model'" in message[0] and "sglang-resolve-model" in message[0]


def test_dry_run_text_is_one_shell_quoted_line_and_masks_the_key(flox):
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_API_KEY="sk-very-secret",
                   SGLANG_PREFERRED_SAMPLING_PARAMS='{"temperature": 0.6}')
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=0)
    assert len(lines(proc.stdout)) == 1
    argv = shlex.split(proc.stdout)
    assert flag_value(argv, "--api-key") == "***"
    assert flag_value(argv, "--preferred-sampling-params") == '{"temperature": 0.6}'
    assert "sk-very-secret" not in proc.stdout + proc.stderr
    shown = shlex.split(run_cli("sglang-serve", "--dry-run", "--show-secrets", env=env, check_rc=0).stdout)
    assert flag_value(shown, "--api-key") == "sk-very-secret"


def test_sglang_dry_run_variable_acts_like_the_flag(flox):
    proc = run_cli("sglang-serve", env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_DRY_RUN="yes"), check_rc=0)
    assert shlex.split(proc.stdout)[1:3] == ["-m", "sglang.launch_server"]


def test_api_key_file(flox, tmp_path):
    key = tmp_path / "key"
    key.write_text("sk-from-file\n")
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_API_KEY_FILE=str(key))
    assert flag_value(dry_run_argv(env, "--show-secrets"), "--api-key") == "sk-from-file"


def test_args_file_and_extra_args_keep_spaces(flox, tmp_path):
    args = tmp_path / "args"
    args.write_text('# tuning\n--json-model-override-args \'{"rope_scaling": {"type": "yarn"}}\'\n--enable-mixed-chunk\n')
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_ARGS_FILE=str(args),
                   SGLANG_EXTRA_ARGS='--sampling-defaults model --stream-interval "2"')
    argv = dry_run_argv(env)
    assert argv[-7:-3] == ["--sampling-defaults", "model", "--stream-interval", "2"]
    assert flag_value(argv, "--json-model-override-args") == '{"rope_scaling": {"type": "yarn"}}'
    assert argv[-1] == "--enable-mixed-chunk"
    assert flag_value(argv, "--stream-interval") == "2"


def test_extra_args_may_not_fight_a_setting(flox):
    proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_EXTRA_ARGS="--port 8000"), check_rc=2)
    assert "SGLANG_EXTRA_ARGS" in proc.stderr and "SGLANG_PORT" in proc.stderr


def test_hostile_values_are_passed_literally(flox, tmp_path):
    marker = tmp_path / "pwned"
    hostile = f"$(touch {marker}) `touch {marker}`; touch {marker}\nnext"
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_SERVED_NAME=hostile, SGLANG_EXTRA_ARGS=f"--chat-template '$(touch {marker})'")
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    argv = dry_run_argv(env)
    assert flag_value(argv, "--served-model-name") == hostile
    # A text-valued flag: an integer one (--stream-interval) would be refused as SGLang would.
    assert flag_value(argv, "--chat-template") == f"$(touch {marker})"
    text = run_cli("sglang-serve", "--dry-run", env=env, check_rc=0).stdout
    assert shlex.split(text) == argv
    assert not marker.exists()


def test_tp_size_checked_against_the_bundled_config(flox):
    write_cached_repo(flox["hub"], MODEL, config={"num_attention_heads": 24, "num_key_value_heads": 8})
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_TP_SIZE="3")
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=2)
    assert "SGLANG_TP_SIZE='3'" in proc.stderr and "num_attention_heads=24" in proc.stderr and "num_key_value_heads=8" in proc.stderr
    auto = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_TP_SIZE="auto", CUDA_VISIBLE_DEVICES="0,1,2,3,4,5")
    assert flag_value(dry_run_argv(auto), "--tp-size") == "4"


def test_version_aware_spelling_end_to_end(flox):
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_CUDA_GRAPH_MAX_BS="32")
    assert "--cuda-graph-max-bs" in dry_run_argv(env)
    env["SGLANG_VERSION"] = "0.5.23"
    argv = dry_run_argv(env)
    assert flag_value(argv, "--cuda-graph-max-bs-decode") == "32" and "--cuda-graph-max-bs" not in argv


def test_version_read_from_the_serving_interpreter_metadata(flox, tmp_path):
    site = tmp_path / "site"
    (site / "sglang-0.5.23.dist-info").mkdir(parents=True)
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_CUDA_GRAPH_MAX_BS="16", PYTHONPATH=str(site))
    del env["SGLANG_VERSION"]
    assert "--cuda-graph-max-bs-decode" in dry_run_argv(env)


def test_preflight_fails_on_a_busy_port_with_exit_3(flox, tmp_path):
    site = tmp_path / "site"
    (site / "sglang-0.5.9.dist-info").mkdir(parents=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_HOST="127.0.0.1", SGLANG_PORT=str(port),
                       SGLANG_PYTHON="python3", PYTHONPATH=str(site))
        proc = run_cli("sglang-serve", env=env, check_rc=3)
    assert len(no_notice(lines(proc.stderr))) == 1 and f"SGLANG_PORT={port}" in proc.stderr


def test_preflight_blames_the_host_setting_for_an_address_this_host_lacks(flox, tmp_path):
    site = tmp_path / "site"
    (site / "sglang-0.5.9.dist-info").mkdir(parents=True)
    write_cached_repo(flox["hub"], MODEL)
    run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL=MODEL), check_rc=0)
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_HOST="192.0.2.1", SGLANG_PYTHON="python3", PYTHONPATH=str(site))
    proc = run_cli("sglang-serve", env=env, check_rc=3)
    message = no_notice(lines(proc.stderr))
    assert len(message) == 1 and "SGLANG_HOST='192.0.2.1': not an address of this host" in message[0]


def test_preflight_missing_interpreter_is_exit_3(flox):
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_PYTHON="python-does-not-exist")
    proc = run_cli("sglang-serve", env=env, check_rc=3)
    assert "SGLANG_PYTHON='python-does-not-exist'" in proc.stderr


def test_serve_execs_the_interpreter_with_the_planned_environment(flox, tmp_path):
    """A stand-in for the serving Python (we have no GPU to run SGLang): a script that records argv and env."""
    fake = tmp_path / "bin" / "python3.12"
    fake.parent.mkdir()
    record = tmp_path / "record.json"
    fake.write_text(f"#!/usr/bin/env python3\nimport json, os, sys\njson.dump({{'argv': sys.argv[1:], 'env': dict(os.environ), 'pid': os.getpid()}}, open({str(record)!r}, 'w'))\n")
    fake.chmod(0o755)
    site = tmp_path / "site"
    (site / "sglang-0.5.9.dist-info").mkdir(parents=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_HOST="127.0.0.1", SGLANG_PORT=str(port), PYTHONPATH=str(site),
                   SGLANG_HUB_CHECK="0")  # not on disk; the Hub is not reachable here (tests/test_hubcheck.py)
    env["PATH"] = f"{fake.parent}:{env['PATH']}"
    del env["SGLANG_VERSION"]
    run_cli("sglang-serve", env=env, check_rc=0)
    seen = json.loads(record.read_text())
    # The bootstrap (a script beside the launcher's modules) runs sglang.launch_server in-process.
    assert seen["argv"][0] == str(Path(launch.__file__).parents[1] / "guest" / "bootstrap.py")
    assert seen["argv"][1:3] == ["--model-path", seen["argv"][2]] and "--api-key" not in seen["argv"]
    assert "SGLANG_PORT" not in seen["env"]
    assert (flox["cache"] / "triton").is_dir() and seen["env"]["TRITON_CACHE_DIR"] == str(flox["cache"] / "triton")


def test_settings_command_masks_secrets(flox):
    proc = run_cli("sglang-runtime", "settings", env=flox_env(flox, SGLANG_API_KEY="sk-hidden", SGLANG_TP_SIZE="2"), check_rc=0)
    assert "sk-hidden" not in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("SGLANG_API_KEY "))
    assert row.rstrip().endswith("***")
    assert any(line.startswith("SGLANG_TP_SIZE ") and line.rstrip().endswith("2") for line in proc.stdout.splitlines())


def test_help_lists_every_setting(flox):
    from sglang_runtime.config import settings

    text = run_cli("sglang-serve", "--help", env=flox_env(flox), check_rc=0).stdout
    assert all(s.env in text for s in settings.TABLE)


# ---- bad input: one line naming the variable and value, exit 2, nothing written ---------------------------

BAD_SERVE = [
    ({"SGLANG_PORT": "abc"}, "SGLANG_PORT='abc'"),
    ({"SGLANG_PORT": "0"}, "SGLANG_PORT='0'"),
    ({"SGLANG_PORT": "70000"}, "SGLANG_PORT='70000'"),
    ({"SGLANG_TP_SIZE": "0"}, "SGLANG_TP_SIZE='0'"),
    ({"SGLANG_TP_SIZE": "-1"}, "SGLANG_TP_SIZE='-1'"),
    ({"SGLANG_TP_SIZE": "two"}, "SGLANG_TP_SIZE='two'"),
    ({"SGLANG_PREFERRED_SAMPLING_PARAMS": "{temperature: 1}"}, "SGLANG_PREFERRED_SAMPLING_PARAMS="),
    ({"SGLANG_PREFERRED_SAMPLING_PARAMS": "[1, 2]"}, "SGLANG_PREFERRED_SAMPLING_PARAMS='[1, 2]'"),
    ({"SGLANG_MEM_FRACTION_STATIC": "1.5"}, "SGLANG_MEM_FRACTION_STATIC='1.5'"),
    ({"SGLANG_ENABLE_METRICS": "maybe"}, "SGLANG_ENABLE_METRICS='maybe'"),
    ({"SGLANG_EXTRA_ARGS": "--chat-template 'unbalanced"}, "SGLANG_EXTRA_ARGS="),
    ({"SGLANG_ARGS_FILE": "/nonexistent/args"}, "SGLANG_ARGS_FILE='/nonexistent/args'"),
    ({"SGLANG_API_KEY_FILE": "/nonexistent/key"}, "SGLANG_API_KEY_FILE='/nonexistent/key'"),
    ({"SGLANG_MODEL": ""}, "SGLANG_MODEL=''"),
    ({"SGLANG_TOOL_CALL_PARSER": "auto"}, "SGLANG_TOOL_CALL_PARSER='auto'"),
]


@pytest.mark.parametrize("bad,needle", BAD_SERVE, ids=[next(iter(b)) + "=" + next(iter(b.values())) for b, _ in BAD_SERVE])
def test_bad_input_is_one_line_exit_2(flox, bad, needle):
    env = flox_env(flox, **{"SGLANG_MODEL": MODEL, **bad})
    before = files_under(flox["cache"])
    for command in (["sglang-serve", "--dry-run"], ["sglang-serve"]):
        proc = run_cli(*command, env=env, check_rc=2)
        message = no_notice(lines(proc.stderr))
        assert len(message) == 1, proc.stderr
        assert needle in message[0] and "expected" in message[0]
        assert proc.stdout == ""
    assert files_under(flox["cache"]) == before


def test_unreadable_args_file_is_exit_2(flox, tmp_path):
    directory = tmp_path / "args-is-a-directory"
    directory.mkdir()
    proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_ARGS_FILE=str(directory)), check_rc=2)
    assert f"SGLANG_ARGS_FILE='{directory}'" in proc.stderr


def test_args_file_with_unbalanced_quotes_names_the_line(flox, tmp_path):
    args = tmp_path / "args"
    args.write_text("--enable-mixed-chunk\n--chat-template 'oops\n")
    proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_ARGS_FILE=str(args)), check_rc=2)
    assert "line 2" in proc.stderr


BAD_RESOLVE = ["missing-snapshot", "no-config", "missing-shard", "offline-no-copy", "two-snapshots-no-ref"]


@pytest.mark.parametrize("case", BAD_RESOLVE)
def test_bad_model_is_one_line_exit_2_and_writes_nothing(flox, case):
    extra: dict[str, str] = {}
    repo = flox["hub"] / ("models--" + MODEL.replace("/", "--"))
    if case == "missing-snapshot":
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("b" * 40)
        needle = "b" * 40
    elif case == "no-config":
        (write_cached_repo(flox["hub"], MODEL) / "config.json").unlink()
        needle = "config.json"
    elif case == "missing-shard":
        (write_cached_repo(flox["hub"], MODEL, shards=4) / "model-00003-of-00004.safetensors").unlink()
        needle = "model-00003-of-00004.safetensors"
    elif case == "offline-no-copy":
        extra["HF_HUB_OFFLINE"] = "1"
        needle = "HF_HUB_OFFLINE"
    else:
        write_cached_repo(flox["hub"], MODEL, commit="c" * 40, write_ref=False)
        write_cached_repo(flox["hub"], MODEL, commit="d" * 40, write_ref=False)
        needle = "c" * 40 + ", " + "d" * 40
    proc = run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL=MODEL, **extra), check_rc=2)
    message = no_notice(lines(proc.stderr))
    # Two snapshots and no ref: which one is the user's to say, through the revision.
    named = "SGLANG_MODEL_REVISION='main'" if case == "two-snapshots-no-ref" else f"SGLANG_MODEL='{MODEL}'"
    assert len(message) == 1 and named in message[0] and needle in message[0]
    assert files_under(flox["cache"]) == []


def test_unwritable_cache_is_a_clear_error_with_nothing_left(flox, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    write_cached_repo(flox["hub"], MODEL, tokenizer_class="TokenizersBackend")
    env = flox_env(flox, SGLANG_MODEL=MODEL, FLOX_ENV_CACHE=str(blocker / "cache"))
    proc = run_cli("sglang-resolve-model", env=env, check_rc=2)
    message = no_notice(lines(proc.stderr))
    assert len(message) == 1 and str(blocker / "cache") in message[0]
    env["SGLANG_TOKENIZER_SHIM"] = "never"
    proc = run_cli("sglang-resolve-model", env=env, check_rc=2)
    assert "SGLANG_MODEL_ENV_FILE=" in proc.stderr
    assert blocker.read_text() == "" and files_under(flox["cache"]) == []


def test_local_directory_model_is_used_as_is(flox, tmp_path):
    model_dir = write_model(tmp_path / "my-model")
    env = flox_env(flox, SGLANG_MODEL=str(model_dir))
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    argv = dry_run_argv(env)
    assert flag_value(argv, "--model-path") == str(model_dir)
    assert "--served-model-name" not in argv
    assert "HF_HUB_OFFLINE" not in (flox["cache"] / "sglang-model.env").read_text()


def test_model_path_dirs_and_user_hf_cache_are_searched_in_order(flox, tmp_path):
    extra_root = tmp_path / "extra"
    in_extra = write_cached_repo(extra_root, MODEL, commit="e" * 40)
    in_user = write_cached_repo(flox["hf"], MODEL, commit="f" * 40)
    env = flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_MODEL_PATH=f"/nonexistent:{extra_root}")
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    assert flag_value(dry_run_argv(env), "--model-path") == str(in_extra)
    env = flox_env(flox, SGLANG_MODEL=MODEL)
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    assert flag_value(dry_run_argv(env), "--model-path") == str(in_user)


def test_flat_bundle_folder_is_accepted(flox):
    flat = write_model(flox["env"] / "share" / "models" / "Phi-4-mini-instruct-FP8-TORCHAO")
    env = flox_env(flox, SGLANG_MODEL=MODEL)
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    assert flag_value(dry_run_argv(env), "--model-path") == str(flat)


def test_no_local_copy_passes_the_id_through(flox):
    env = flox_env(flox, SGLANG_MODEL="Qwen/Qwen3-8B")
    proc = run_cli("sglang-resolve-model", env=env, check_rc=0)
    assert "download" in proc.stderr
    argv = dry_run_argv(env)
    assert flag_value(argv, "--model-path") == "Qwen/Qwen3-8B" and "--served-model-name" not in argv


def test_serve_path_imports_nothing_heavy(flox):
    """`sglang-serve` must start fast: no transformers, huggingface_hub, sglang or HTTP client on its path."""
    import subprocess
    import sys

    env = flox_env(flox, SGLANG_MODEL=MODEL)
    code = ("import sys; sys.argv = ['sglang-serve', '--dry-run']\n"
            "from sglang_runtime.cli import main as cli\n"
            "try:\n    cli.serve_main()\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(sys.modules)), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    loaded = set(proc.stderr.split())
    assert "sglang_runtime.launch.plan" in loaded
    assert not {m for m in loaded if m.split(".")[0] in {"transformers", "huggingface_hub", "sglang", "httpx", "requests", "torch"}}


def test_env_file_pointing_at_a_removed_directory_is_refused(flox, tmp_path):
    import shutil

    model_dir = write_model(tmp_path / "gone-soon")
    env = flox_env(flox, SGLANG_MODEL=str(model_dir))
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    shutil.rmtree(model_dir)
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=2)
    assert "is gone" in proc.stderr and "sglang-resolve-model" in proc.stderr


# ---- secrets never printed (issue: hardening class 1) ------------------------------------------------------

@pytest.mark.parametrize("where", ["extra", "file"])
@pytest.mark.parametrize("flag", ["--api-key", "--admin-api-key=", "--api-k"])
def test_a_refused_secret_argument_is_never_echoed(flox, tmp_path, where, flag):
    secret = "sk-refused-secret-77"
    token = f"{flag}{secret}" if flag.endswith("=") else f"{flag} {secret}"
    extra = {"SGLANG_EXTRA_ARGS": f"--port 1 {token}"} if where == "extra" else {}
    if where == "file":
        args = tmp_path / "args"
        args.write_text(f"--port 1\n{token}\n")
        extra["SGLANG_ARGS_FILE"] = str(args)
    proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL=MODEL, **extra))
    assert proc.returncode == 2 and secret not in proc.stdout + proc.stderr


@pytest.mark.parametrize("key, why", [("sk-ünïcode-key", "visible ASCII"), ("short", "at least 8"), ("sk key with space", "visible ASCII")])
def test_an_unusable_key_is_refused_without_quoting_it(flox, tmp_path, key, why):
    key_file = tmp_path / "key"
    key_file.write_text(key + "\n")
    for extra in ({"SGLANG_API_KEY": key}, {"SGLANG_API_KEY_FILE": str(key_file)}):
        proc = run_cli("sglang-serve", "--dry-run", env=flox_env(flox, SGLANG_MODEL=MODEL, **extra), check_rc=2)
        assert why in proc.stderr and key not in proc.stderr


def test_a_key_file_written_by_echo_works(flox, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-echo-123\n")
    proc = run_cli("sglang-serve", "--dry-run", "--json", env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_API_KEY_FILE=str(key_file)),
                   check_rc=0)
    plan = json.loads(proc.stdout)
    assert plan["argv"][plan["argv"].index("--api-key") + 1] == "***" and "--api-key" not in plan["exec"]
    assert plan["secrets_via_environment"] == ["--api-key"] and "sk-from-echo-123" not in proc.stdout + proc.stderr


# ---- no silent wrong model, no value becomes a flag ----------------------------------------------------------

@pytest.mark.parametrize("command", ["sglang-resolve-model", "sglang-serve"])
@pytest.mark.parametrize("model", ["--port", "-x", "org/model\n--api-key", "org/\x1bmodel"])
def test_serve_and_resolve_refuse_a_model_value_that_is_not_a_model(flox, command, model):
    args = ["--dry-run"] if command == "sglang-serve" else []
    proc = run_cli(command, *args, env=flox_env(flox, SGLANG_MODEL=model), check_rc=2)
    message = no_notice(lines(proc.stderr))
    assert len(message) == 1 and message[0].startswith(f"{command}: error: SGLANG_MODEL=")


def test_a_value_starting_with_a_dash_never_becomes_a_flag(flox):
    proc = run_cli("sglang-serve", "--dry-run", "--json",
                   env=flox_env(flox, SGLANG_MODEL=MODEL, SGLANG_SERVED_NAME="--api-key", SGLANG_CHUNKED_PREFILL_SIZE="-1"),
                   check_rc=0)
    argv = json.loads(proc.stdout)["argv"]
    assert "--served-model-name=--api-key" in argv and "--chunked-prefill-size=-1" in argv
    assert "--api-key" not in argv


@pytest.mark.parametrize("args", [["wait", "--url", "file:///etc/passwd"], ["wait", "--url", "http://host:99999"],
                                  ["query", "hi", "--url", "http://[::1"], ["query", "hi", "--url", "ftp://x"]])
def test_a_bad_url_is_refused_at_once(flox, args):
    proc = run_cli("sglang-runtime", *args, "--timeout", "30", env=flox_env(flox), check_rc=2)
    assert "--url=" in proc.stderr and "expected an http:// or https:// URL" in proc.stderr


def test_a_huge_value_is_quoted_short(flox):
    proc = run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL="a" * 5000), check_rc=2)
    assert len(proc.stderr) < 500 and "(5000 characters)" in proc.stderr
