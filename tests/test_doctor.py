"""`doctor`: recorded nvidia-smi output of real GPUs (tests/fixtures/nvidia-smi), a missing
nvidia-smi, real model configs, a real port bind, a real /dev/shm. No GPU here: the CLI test
stands in for nvidia-smi with a script that prints a recorded row (named as such below)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sglang_runtime.operate import doctor
from sglang_runtime.host import gpu
from sglang_runtime.model import modelread
from sglang_peer import free_port

FIXTURES = Path(__file__).parent / "fixtures"
SMI = FIXTURES / "nvidia-smi"
MODELS = FIXTURES / "models"
TARGETS = doctor.parse_targets(doctor.DEFAULT_TARGETS)


def recorded(name: str) -> gpu.Probe:
    return gpu.Probe(tuple(gpu.parse_query_csv((SMI / name).read_text())))


def by_name(checks, name):
    found = [c for c in checks if c.name == name]
    assert found, f"no {name} check in {[c.name for c in checks]}"
    return found[0]


@pytest.mark.parametrize("fixture,name,cap,mem,driver", [
    ("t4.csv", "Tesla T4", (7, 5), 15360, "580.159.04"),
    ("a100x4.csv", "NVIDIA A100-SXM4-80GB", (8, 0), 81920, "535.129.03"),
    ("h100.csv", "NVIDIA H100 80GB HBM3", (9, 0), 81559, "580.95.05"),
    ("rtx5090.csv", "NVIDIA GeForce RTX 5090", (12, 0), 32607, "575.64.05"),
])
def test_recorded_rows_parse(fixture, name, cap, mem, driver):
    gpus = gpu.parse_query_csv((SMI / fixture).read_text())
    assert gpus[0] == gpu.Gpu(0, name, cap, mem, driver)
    assert [g.index for g in gpus] == list(range(len(gpus)))


@pytest.mark.parametrize("fixture", ["t4.csv", "h100.csv", "rtx5090.csv"])
def test_supported_gpus_pass(fixture):
    checks = doctor.gpu_checks(recorded(fixture), None, TARGETS)
    assert [c.status for c in checks] == ["ok"] * 4, checks


def test_old_driver_fails_with_the_fix():
    checks = doctor.gpu_checks(recorded("a100x4.csv"), None, TARGETS)
    driver = by_name(checks, "driver")
    assert driver.status == "fail" and "535.129.03" in driver.message and "550" in driver.fix
    assert "4 GPU(s)" in by_name(checks, "gpus").message


def test_blackwell_fails_when_the_build_stops_at_hopper():
    checks = doctor.gpu_checks(recorded("rtx5090.csv"), None, doctor.parse_targets("7.5,8.0,8.6,8.9,9.0"))
    cc = by_name(checks, "compute-capability")
    assert cc.status == "fail" and "SM120" in cc.message and "SM90" in cc.message


def test_compute_capability_runs_forward_within_a_major_only():
    assert doctor.runs_on((8, 6), [(8, 0)]) and doctor.runs_on((12, 1), [(12, 0)])
    assert not doctor.runs_on((7, 0), TARGETS) and not doctor.runs_on((11, 0), TARGETS)
    assert doctor.parse_targets("sm_90a, sm_120") == ((9, 0), (12, 0))
    with pytest.raises(doctor.ConfigError, match="SGLANG_CUDA_CAPABILITIES"):
        doctor.parse_targets("hopper")


def test_missing_nvidia_smi_is_a_clear_fail():
    probe = gpu.probe("/nonexistent/nvidia-smi")  # a real failed exec
    assert probe.gpus == () and "not found" in probe.error
    checks = doctor.gpu_checks(probe, None, TARGETS)
    assert len(checks) == 1 and checks[0].status == "fail" and "no GPU" in checks[0].message


@pytest.mark.parametrize("value,status,needle", [
    ("0,2", "ok", "GPU(s) 0, 2"),
    ("1,7", "fail", "names GPU 7"),
    ("", "fail", "hides every GPU"),
    ("-1", "fail", "hides every GPU"),
    ("GPU-1234", "warn", "UUID"),
])
def test_cuda_visible_devices_against_what_is_found(value, status, needle):
    check = by_name(doctor.gpu_checks(recorded("a100x4.csv"), value, TARGETS), "visible-devices")
    assert check.status == status and needle in check.message


def test_shm_warns_only_for_tensor_parallel():
    small = 64 << 20  # Docker's and Kubernetes' default /dev/shm
    assert doctor.shm_check(small, 2).status == "warn"
    assert "emptyDir" in doctor.shm_check(small, 2).fix
    assert doctor.shm_check(small, 1).status == "ok"
    assert doctor.shm_check(16 << 30, 8).status == "ok"
    assert doctor.shm_size("/dev/shm") > 0  # the real one
    assert doctor.shm_size("/nonexistent") is None


def model_dir(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(MODELS / name, target)
    return target


def env_for(model: Path, **extra: str) -> dict[str, str]:
    env = {"SGLANG_MODEL": str(model), "SGLANG_PORT": str(free_port()), "SGLANG_HOST": "127.0.0.1",
           "SGLANG_PYTHON": sys.executable, "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    env.update(extra)
    return env


def test_full_run_gpt_oss_120b_on_one_h100(tmp_path):
    checks = doctor.run(env_for(model_dir(tmp_path, "gpt-oss-120b")), probe=recorded("h100.csv"), hf_cache=tmp_path / "hub")
    names = [c.name for c in checks]
    assert names[:4] == ["gpus", "compute-capability", "driver", "visible-devices"]
    assert by_name(checks, "port").status == "ok"
    assert by_name(checks, "model").status == "ok"
    assert "36 layers" in by_name(checks, "config").message
    assert by_name(checks, "tensor-parallel").status == "ok"
    assert by_name(checks, "context").status == "ok"
    fit = by_name(checks, "fit")
    assert fit.status == "fail" and "0.83" in fit.message
    # The test venv has no sglang: the interpreter check says so, as serve's preflight would.
    interp = by_name(checks, "interpreter")
    assert interp.status == "fail" and "no sglang" in interp.message
    assert doctor.failed(checks)


def test_full_run_reports_tp_context_and_port_problems(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = env_for(model_dir(tmp_path, "gpt-oss-20b"), SGLANG_PORT=str(port), SGLANG_TP_SIZE="3",
                      SGLANG_CONTEXT_LENGTH="200000")
        checks = doctor.run(env, probe=recorded("a100x4.csv"), hf_cache=tmp_path / "hub")
    assert by_name(checks, "port").status == "fail"
    tp = [c for c in checks if c.name == "tensor-parallel"]
    assert tp[0].status == "fail" and "SGLANG_TP_SIZE='3'" in tp[0].message
    ctx = by_name(checks, "context")
    assert ctx.status == "fail" and "131072" in ctx.message


def test_tp_auto_uses_the_visible_gpus_and_shares_the_weights(tmp_path):
    env = env_for(model_dir(tmp_path, "gpt-oss-120b"), SGLANG_TP_SIZE="auto", CUDA_VISIBLE_DEVICES="0,1")
    checks = doctor.run(env, probe=recorded("a100x4.csv"), hf_cache=tmp_path / "hub")
    assert "auto -> 2" in by_name(checks, "tensor-parallel").message
    assert by_name(checks, "fit").status in ("ok", "warn")
    assert "TP 2" in by_name(checks, "fit").message


def test_broken_config_and_unknown_model_are_reported(tmp_path):
    broken = model_dir(tmp_path, "gpt-oss-20b")
    (broken / "config.json").write_text("{not json")
    checks = doctor.run(env_for(broken), probe=recorded("h100.csv"), hf_cache=tmp_path / "hub")
    # resolve-model's own check reads config.json: doctor reports it where the lookup fails.
    assert by_name(checks, "model").status == "fail" and "config.json" in by_name(checks, "model").message
    env = env_for(broken, SGLANG_MODEL="someorg/not-downloaded")
    checks = doctor.run(env, probe=recorded("h100.csv"), hf_cache=tmp_path / "hub")
    assert by_name(checks, "model").status == "warn" and "download" in by_name(checks, "model").message


def fake_nvidia_smi(tmp_path: Path, fixture: str) -> Path:
    """Stand-in for nvidia-smi (no GPU on this machine): a script printing a recorded real row."""
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat {SMI / fixture}\n")
    script.chmod(0o755)
    return script


def test_cli_json_and_exit_code(tmp_path):
    bin_dir = Path(sys.executable).parent
    env = env_for(model_dir(tmp_path, "gpt-oss-20b"), HF_HUB_CACHE=str(tmp_path / "hub"))
    smi = fake_nvidia_smi(tmp_path, "h100.csv")
    proc = subprocess.run([str(bin_dir / "sglang-runtime"), "doctor", "--json", "--nvidia-smi", str(smi)],
                          env=env, capture_output=True, text=True, timeout=60)
    result = json.loads(proc.stdout)
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses["gpus"] == "ok" and statuses["fit"] == "ok"
    assert statuses["interpreter"] == "fail"  # no sglang in the test venv
    assert proc.returncode == 1 and result["ok"] is False

    text = subprocess.run([str(bin_dir / "sglang-runtime"), "doctor", "--nvidia-smi", "/nonexistent/nvidia-smi"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert text.returncode == 1
    assert "[fail] gpus" in text.stdout and "fix:" in text.stdout


# ---------------------------------------------------------------- compat and model-read (transformers-5 checkpoints)

V5_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
            "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 64,
            "max_position_embeddings": 4096, "dtype": "bfloat16", "transformers_version": "5.19.0",
            "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}}


def v5_model(tmp_path: Path) -> Path:
    """A transformers-5 style model directory: RoPE base in rope_parameters, a TokenizersBackend tokenizer
    with extra special tokens (tokenizer.json trained here with `tokenizers`)."""
    import sglang_support

    model = tmp_path / "v5-llama"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps(V5_LLAMA))
    (model / "model.safetensors").write_bytes(b"\0" * 8)
    sglang_support.make_tokenizer_dir(model, "TokenizersBackend")
    tc = json.loads((model / "tokenizer_config.json").read_text())
    tc.update(backend="tokenizers", extra_special_tokens=["[PAD]"])
    (model / "tokenizer_config.json").write_text(json.dumps(tc))
    return model


def serving_env(model: Path, **extra: str) -> dict[str, str]:
    """The serving environment as the Flox hook sets it: the venv's Python (torch) with SGLang 0.5.9's real folder."""
    import sglang_support

    return env_for(model, PYTHONPATH=str(sglang_support.sglang_dir("0.5.9")), **extra)


def test_doctor_reads_the_shadow_with_the_real_serving_interpreter(tmp_path):
    """One real run: SGLang 0.5.9's own loaders, in a subprocess of the serving interpreter, read the shadow
    resolve-model would serve, and agree with what the snapshot says."""
    model = v5_model(tmp_path)
    checks = doctor.run(serving_env(model), probe=recorded("h100.csv"), hf_cache=tmp_path / "hub")
    assert by_name(checks, "interpreter").status == "ok" and "sglang 0.5.9" in by_name(checks, "interpreter").message
    compat_check = by_name(checks, "compat")
    assert compat_check.status == "ok" and "rules rope-theta, tokenizer-class, extra-special-tokens" in compat_check.message
    read = by_name(checks, "model-read")
    assert read.status == "ok", read
    assert "transformers 4.57.1 / SGLang 0.5.9 reads the translated shadow of" in read.message
    assert "RoPE base 500000.0 (default)" in read.message and "context 4096" in read.message


def test_model_read_fails_on_what_the_untranslated_snapshot_makes_of_it(tmp_path):
    """What SGLang 0.5.9 reads from the snapshot as written (SGLANG_TOKENIZER_SHIM=never): the wrong RoPE base and
    a tokenizer that does not load. Read by the real 0.5.9 (the shared release worker), judged by doctor's check."""
    import sglang_support
    from sglang_runtime.model import compat, shim

    model = v5_model(tmp_path)
    tc = json.loads((model / "tokenizer_config.json").read_text())
    del tc["extra_special_tokens"]
    (model / "tokenizer_config.json").write_text(json.dumps({**tc, "tokenizer_class": "PreTrainedTokenizerFast"}))
    probe_file = Path(shim.__file__).parents[1] / "guest" / "model_probe.py"
    result = sglang_support.call_in("0.5.9", probe_file, "read", str(model), [], [])
    snap = {**shim.snapshot_files(model), compat.TOKENIZER_JSON: json.loads((model / "tokenizer.json").read_text())}
    check = modelread.model_read_check(result, snap, str(model), "transformers 4.57.1")
    assert check.status == "fail"
    assert "RoPE rope_theta of full_attention layers: read 10000.0, the snapshot says 500000.0" in check.message
    assert "SGLANG_TOKENIZER_SHIM=auto" in check.fix
    broken = sglang_support.call_in("0.5.9", probe_file, "read", str(v5_model(tmp_path / "b")), [], [])
    check = modelread.model_read_check(broken, snap, "the snapshot", "transformers 4.57.1")
    assert check.status == "fail" and "cannot load the tokenizer of the snapshot: " in check.message


def stand_in_interpreter(tmp_path: Path, body: str) -> str:
    """Stand-in for a broken serving interpreter (a script, not Python): what doctor must survive."""
    script = tmp_path / "python-broken"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("body,needle", [
    ("echo 'ImportError: libcudart.so.12: cannot open shared object file' >&2; exit 1", "libcudart.so.12"),
    ("echo '{not json'; exit 0", "exit status 0"),
    ("exec sleep 60", "did not finish reading"),
])
def test_a_broken_or_hanging_interpreter_is_one_fail_line(tmp_path, body, needle):
    import time

    model = v5_model(tmp_path)
    env = serving_env(model, SGLANG_PYTHON=stand_in_interpreter(tmp_path, body))
    started = time.monotonic()
    checks = doctor.run(env, probe=recorded("h100.csv"), hf_cache=tmp_path / "hub", read_timeout=2)
    assert time.monotonic() - started < 30
    read = by_name(checks, "model-read")
    assert read.status == "fail" and needle in read.message and "\n" not in read.message


def test_a_refused_checkpoint_fails_compat_and_is_not_read(tmp_path):
    model = v5_model(tmp_path)
    config = {**V5_LLAMA, "model_type": "gemma3_text", "rope_parameters": {
        "full_attention": {"rope_theta": 1e6, "rope_type": "default"},
        "sliding_attention": {"rope_theta": 1e4, "rope_type": "yarn", "factor": 2.0}}}
    (model / "config.json").write_text(json.dumps(config))
    checks = doctor.run(serving_env(model), probe=recorded("h100.csv"), hf_cache=tmp_path / "hub")
    compat_check = by_name(checks, "compat")
    assert compat_check.status == "fail" and "sliding_attention: RoPE scaling on sliding layers" in compat_check.message
    assert "SGLang >= 0.5.10" in compat_check.fix
    assert not [c for c in checks if c.name == "model-read"]
