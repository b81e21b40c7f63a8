"""The real-SGLang test infrastructure answers what the real releases say.

Everything here runs real SGLang releases (installed by scripts/install-sglang.sh):
0.5.9 / 0.5.23 for the detailed facts, every release of the matrix for its folder
layout; no stand-ins.
"""
import os
import subprocess
import time
from pathlib import Path

import pytest

import sglang_support as sg

REPO = Path(__file__).resolve().parents[1]
BOTH = pytest.mark.parametrize("version", sg.STANDALONE)


def test_cuda_graph_max_bs_is_accepted_by_0_5_9_and_ambiguous_in_0_5_23():
    argv = ["--model-path", "m", "--cuda-graph-max-bs", "8"]
    old = sg.parse_argv("0.5.9", argv)
    assert old.ok, old.error
    assert old.namespace["cuda_graph_max_bs"] == 8
    new = sg.parse_argv("0.5.23", argv)
    assert not new.ok and new.exit_code == 2
    assert ("ambiguous option: --cuda-graph-max-bs could match "
            "--cuda-graph-max-bs-decode, --cuda-graph-max-bs-prefill") in new.error


@BOTH
def test_unknown_flag_and_bad_value_are_rejected(version):
    unknown, bad_int = sg.parse_argvs(version, [
        ["--model-path", "m", "--no-such-flag"],
        ["--model-path", "m", "--port", "abc"],
    ])
    assert not unknown.ok and unknown.exit_code == 2 and unknown.namespace is None
    assert "unrecognized arguments: --no-such-flag" in unknown.error
    assert not bad_int.ok
    assert "argument --port: invalid int value: 'abc'" in bad_int.error
    # The usage block is dropped; what is left names the problem.
    assert "usage:" not in unknown.output


@BOTH
def test_batch_keeps_order_and_typed_values(version):
    argvs = [["--model-path", "org/a", "--port", str(30000 + i), "--tp-size", "2"] for i in range(20)]
    argvs.insert(7, ["--port", "1"])  # --model-path is required
    results = sg.parse_argvs(version, argvs)
    assert len(results) == 21
    assert not results[7].ok and "--model-path" in results[7].error
    ok = [r for i, r in enumerate(results) if i != 7]
    assert [r.namespace["port"] for r in ok] == list(range(30000, 30020))
    # The namespace key for --tp-size drifted: tensor_parallel_size in
    # 0.5.9, tp_size in 0.5.23 (compare argvs, not namespaces, across versions).
    tp_key = {"0.5.9": "tensor_parallel_size", "0.5.23": "tp_size"}[version]
    assert all(r.namespace[tp_key] == 2 and r.namespace["model_path"] == "org/a" for r in ok)
    # SGLang's own default host is loopback (the runtime must pass 0.0.0.0).
    assert ok[0].namespace["host"] == "127.0.0.1"


def test_deprecated_disable_cuda_graph_parses_with_a_note_only_in_0_5_23():
    argv = ["--model-path", "m", "--disable-cuda-graph"]
    old, new = sg.parse_argv("0.5.9", argv), sg.parse_argv("0.5.23", argv)
    assert old.ok and old.namespace["disable_cuda_graph"] is True
    assert "deprecated" not in old.output
    assert new.ok
    assert "'--disable-cuda-graph' is deprecated" in new.output


def test_parser_auto_choice_only_in_0_5_23():
    argv = ["--model-path", "m", "--tool-call-parser", "auto", "--reasoning-parser", "auto"]
    old, new = sg.parse_argv("0.5.9", argv), sg.parse_argv("0.5.23", argv)
    assert not old.ok and "invalid choice: 'auto'" in old.error
    assert new.ok and new.namespace["tool_call_parser"] == "auto"


def test_parser_sizes_match_the_facts_file():
    # Facts: "0.5.9 gives 332 parser actions, 0.5.23 gives 561 option
    # strings". Both numbers are exact; the other two complete the picture
    # (-h/--help count as one action, two option strings).
    assert sg.parser_action_count("0.5.9") == 332
    assert len(sg.option_strings("0.5.9")) == 343
    assert sg.parser_action_count("0.5.23") == 532
    assert len(sg.option_strings("0.5.23")) == 561


@BOTH
def test_flags_the_runtime_relies_on_exist(version):
    needed = {
        "--model-path", "--host", "--port", "--served-model-name", "--tp-size", "--dp-size",
        "--attention-backend", "--dtype", "--quantization", "--mem-fraction-static",
        "--context-length", "--chunked-prefill-size", "--max-running-requests",
        "--schedule-policy", "--preferred-sampling-params", "--api-key",
        "--enable-cache-report", "--enable-metrics", "--trust-remote-code", "--log-level",
        "--skip-server-warmup", "--download-dir", "--tokenizer-path", "--random-seed",
        "--watchdog-timeout", "--enable-torch-compile", "--disable-cuda-graph",
    }
    assert needed - sg.option_strings(version) == set()
    assert ("--cuda-graph-max-bs" in sg.option_strings(version)) == (version == "0.5.9")


@BOTH
def test_env_registry_has_sglangs_names_and_not_ours(version):
    registry = sg.env_registry(version)
    assert {"SGLANG_PORT", "SGLANG_HOST_IP", "SGLANG_CACHE_DIR",
            "SGLANG_ENABLE_TORCH_COMPILE", "SGLANG_HEALTH_CHECK_TIMEOUT"} <= registry
    # Names a launcher might invent that SGLang does not read (facts file).
    ours = {"SGLANG_MODEL", "SGLANG_HOST", "SGLANG_TP_SIZE", "SGLANG_DTYPE",
            "SGLANG_ATTENTION_BACKEND", "SGLANG_DISABLE_CUDA_GRAPH", "SGLANG_API_KEY",
            "SGLANG_MEM_FRACTION_STATIC", "SGLANG_CONTEXT_LENGTH", "SGLANG_LOG_LEVEL",
            "SGLANG_SERVED_MODEL_NAME"}
    assert registry & ours == set()


def test_env_registry_needs_the_source_scan_for_0_5_9():
    # 0.5.9 reads SGLANG_PORT with os.getenv, outside its Envs class; 0.5.23
    # declares it. The Envs class alone would miss the one that matters most.
    assert "SGLANG_PORT" not in sg.env_class_names("0.5.9")
    assert "SGLANG_PORT" in sg.env_names_in_source("0.5.9")
    assert "SGLANG_PORT" in sg.env_class_names("0.5.23")
    # Exact sizes of the pinned releases (the facts file's 349 / 1115 were
    # counted another way; see docs/sglang-test-infra.md).
    assert len(sg.env_class_names("0.5.9")) == 209
    assert len(sg.env_class_names("0.5.23")) == 770
    assert len(sg.env_registry("0.5.9")) == 356
    assert len(sg.env_registry("0.5.23")) == 1097


def test_tokenizersbackend_fails_on_transformers_4_57_and_loads_when_renamed(tmp_path):
    new_style = sg.make_tokenizer_dir(tmp_path / "new", "TokenizersBackend")
    renamed = sg.make_tokenizer_dir(tmp_path / "old", "PreTrainedTokenizerFast")

    (ok, msg), (ok_renamed, msg_renamed) = sg.load_tokenizers_in("0.5.9", [new_style, renamed])
    assert not ok
    assert "Tokenizer class TokenizersBackend does not exist" in msg

    ok, msg = ok_renamed, msg_renamed
    assert ok, msg
    assert "PreTrainedTokenizerFast loaded by transformers 4.57.1" in msg

    ok, msg = sg.load_tokenizer_in("0.5.23", new_style)
    assert ok, msg
    assert "transformers 5.19.0" in msg


def test_the_matrix_is_every_final_release_from_0_5_9():
    assert sg.VERSIONS == tuple(f"0.5.{n}" for n in range(9, 24))
    assert sg.STANDALONE == ("0.5.9", "0.5.23")
    assert {sg.base_of(v) for v in sg.VERSIONS if v not in sg.STANDALONE} == {"0.5.23"}


@pytest.mark.parametrize("version", sg.VERSIONS)
def test_folder_holds_exactly_the_pinned_distributions(version):
    site = sg.sglang_dir(version)
    path = sg.python_path(site)
    assert sg.installed_version(site, "sglang") == version
    if version in sg.STANDALONE:
        assert path == [site]
    else:
        # Only the sglang wheel in the release's own folder; each pin in its own shared folder,
        # placed before the base release's folder.
        assert [p.name for p in site.glob("*.dist-info")] == [f"sglang-{version}.dist-info"]
        assert path[-1].resolve() == sg.sglang_dir(sg.base_of(version)).resolve()
    found = {}
    for name in sg.pins(version):
        found[name] = next((v for v in (sg.installed_version(folder, name) for folder in path) if v), None)
    assert found == sg.pins(version)
    # The transformers the release pins is the one import finds first.
    first_transformers = next(sg.installed_version(folder, "transformers") for folder in path
                              if sg.installed_version(folder, "transformers"))
    assert first_transformers == sg.TRANSFORMERS_PIN[version]


def test_missing_folder_names_the_install_command(monkeypatch, tmp_path):
    with pytest.raises(sg.SGLangNotInstalled, match=r"scripts/install-sglang.sh 0\.4\.0 "):
        sg.sglang_dir("0.4.0")
    monkeypatch.setenv(sg.site_env_var("0.5.9"), str(tmp_path))
    with pytest.raises(sg.SGLangNotInstalled, match="SGLANG_TEST_SITE_0_5_9"):
        sg.sglang_dir("0.5.9")


def test_install_script_is_instant_when_installed_and_refuses_unknown_versions(tmp_path):
    site = sg.sglang_dir("0.5.9")
    marker = (site / ".complete").stat().st_mtime_ns
    start = time.monotonic()
    done = subprocess.run(["bash", "scripts/install-sglang.sh", "0.5.9", str(site)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 1.0
    assert (site / ".complete").stat().st_mtime_ns == marker

    unknown = subprocess.run(["bash", "scripts/install-sglang.sh", "0.0.1", str(tmp_path / "x")],
                             cwd=REPO, capture_output=True, text=True)
    assert unknown.returncode == 2
    assert "no dependency list for sglang 0.0.1" in unknown.stderr
    assert not (tmp_path / "x").exists()
