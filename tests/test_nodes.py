"""Multi-node and prefill/decode settings: `auto` from LeaderWorkerSet's injected variables, the rules
checked before launch (one line, exit 2), the argvs they make parsed by the REAL SGLang parsers of 0.5.9
and 0.5.23, and what `wait` and `doctor` say on a node of rank > 0 (a stand-in for its health stub)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import sglang_support
from conftest import BIN, clean_env, run_cli
from k8s_support import StandInServer
from sglang_peer import free_port
from sglang_runtime.operate import doctor
from sglang_runtime.host import gpu
from sglang_runtime.launch import plan as launch, nodes, tp
from sglang_runtime.config import settings
from sglang_runtime.util.errors import ConfigError, PreflightError

VERSIONS = ("0.5.9", "0.5.23")
NEW = ("SGLANG_NNODES", "SGLANG_NODE_RANK", "SGLANG_DIST_INIT_ADDR", "SGLANG_DIST_INIT_PORT",
       "SGLANG_DISAGGREGATION_MODE", "SGLANG_DISAGGREGATION_TRANSFER_BACKEND",
       "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT", "SGLANG_DISAGGREGATION_IB_DEVICE")
# What the LeaderWorkerSet controller injects into the pods of group 0 of "sglang-multinode" in
# namespace "sglang", size 2 (the names and the DNS form: shared/k8s-crds/README.md).
LEADER = "sglang-multinode-0.sglang-multinode.sglang"
AUTO = {"SGLANG_NNODES": "auto", "SGLANG_NODE_RANK": "auto", "SGLANG_DIST_INIT_ADDR": "auto", "SGLANG_TP_SIZE": "auto"}
FIXTURES = Path(__file__).parent / "fixtures"


def lws(index: int, size: int = 2, leader: str = LEADER) -> dict[str, str]:
    return {"LWS_LEADER_ADDRESS": leader, "LWS_GROUP_SIZE": str(size), "LWS_WORKER_INDEX": str(index)}


def topo(env: dict[str, str]) -> nodes.Topology:
    return nodes.topology(settings.load(env), env)


def refused(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        values = settings.load(env)
        nodes.topology(values, env)
        nodes.check_disaggregation(values)
    assert "\n" not in str(caught.value)
    return caught.value


# --- the settings themselves ---------------------------------------------------------------

def test_the_new_names_are_settings_and_none_is_read_by_sglang():
    assert set(NEW) <= settings.NAMES
    for version in VERSIONS:
        registry = sglang_support.env_registry(version)
        assert not set(NEW) & registry, (version, sorted(set(NEW) & registry))
        # LeaderWorkerSet's own names are not SGLang's either: passing them through is harmless.
        assert not {"LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"} & registry


@pytest.mark.parametrize("raw,normal", [
    ("10.0.0.2:20000", "10.0.0.2:20000"), ("sglang-multinode-0.sglang-multinode.sglang:20000", None),
    ("[fd00::2]:20000", "[fd00::2]:20000"), ("[::1]:5000", "[::1]:5000"), (" auto ", "auto"), ("AUTO", "auto"),
    ("leader:1", "leader:1"), ("leader:65535", "leader:65535")])
def test_dist_init_addr_accepts_host_port_bracketed_ipv6_and_auto(raw, normal):
    assert settings.load({"SGLANG_DIST_INIT_ADDR": raw}).get("SGLANG_DIST_INIT_ADDR") == (normal or raw)


@pytest.mark.parametrize("raw,why", [
    ("10.0.0.2", "no :port"), ("leader:", "integer from 1 to 65535"), ("leader:0", "integer from 1 to 65535"),
    ("leader:65536", "integer from 1 to 65535"), ("leader:20000x", "integer from 1 to 65535"),
    ("fd00::2:20000", "in brackets: [fd00::2]:20000"), ("[fd00::zz]:20000", "not an IPv6 address"),
    ("[fd00::2]", "no :port"), ("[fd00::2]x:1", "no :port"), ("under_score:1", "not a host name"),
    (":20000", "not a host name"), ("-leader:1", "not a host name"), ("a b:1", "not a host name")])
def test_dist_init_addr_rejects_what_sglang_could_not_split(raw, why):
    with pytest.raises(ConfigError) as caught:
        settings.load({"SGLANG_DIST_INIT_ADDR": raw})
    text = str(caught.value)
    assert text.startswith(f"SGLANG_DIST_INIT_ADDR={raw!r}: expected host:port") and why in text and "\n" not in text


@pytest.mark.parametrize("name,raw", [("SGLANG_NNODES", "0"), ("SGLANG_NNODES", "two"), ("SGLANG_NODE_RANK", "-1"),
                                      ("SGLANG_DISAGGREGATION_MODE", "both"), ("SGLANG_DISAGGREGATION_MODE", "null"),
                                      ("SGLANG_DISAGGREGATION_TRANSFER_BACKEND", "rdma"),
                                      ("SGLANG_DISAGGREGATION_BOOTSTRAP_PORT", "70000"), ("SGLANG_DIST_INIT_PORT", "0")])
def test_bad_values_name_the_setting(name, raw):
    with pytest.raises(ConfigError) as caught:
        settings.load({name: raw})
    assert str(caught.value).startswith(f"{name}={raw!r}: expected ")


# --- auto from LeaderWorkerSet -------------------------------------------------------------

def test_auto_on_the_leader_reads_all_three_from_leaderworkerset():
    t = topo({**AUTO, **lws(0)})
    assert (t.nnodes, t.rank, t.dist_init_addr) == (2, 0, f"{LEADER}:20000")
    assert t.serves_api and t.from_lws == ("SGLANG_NNODES", "SGLANG_NODE_RANK", "SGLANG_DIST_INIT_ADDR")
    assert t.values() == {"SGLANG_NNODES": 2, "SGLANG_NODE_RANK": 0, "SGLANG_DIST_INIT_ADDR": f"{LEADER}:20000"}


def test_auto_on_a_worker_gives_its_index_as_rank_and_the_same_leader():
    t = topo({**AUTO, **lws(3, size=4), "SGLANG_DIST_INIT_PORT": "25000"})
    assert (t.nnodes, t.rank, t.dist_init_addr) == (4, 3, f"{LEADER}:25000")
    assert not t.serves_api and t.leader_host == LEADER


def test_auto_brackets_an_ipv6_leader_address():
    assert topo({**AUTO, **lws(1, leader="fd00::7")}).dist_init_addr == "[fd00::7]:20000"


def test_a_group_of_one_passes_no_multinode_flags():
    assert topo({**AUTO, **lws(0, size=1)}).values() == {"SGLANG_DIST_INIT_ADDR": f"{LEADER}:20000"}
    assert topo({}).values() == {}


@pytest.mark.parametrize("env,needle", [
    ({"SGLANG_NNODES": "auto"}, "SGLANG_NNODES='auto': expected LWS_GROUP_SIZE, which LeaderWorkerSet sets in its pods (it is unset here)"),
    ({"SGLANG_NODE_RANK": "auto"}, "SGLANG_NODE_RANK='auto': expected LWS_WORKER_INDEX"),
    ({"SGLANG_DIST_INIT_ADDR": "auto", "SGLANG_NNODES": "2"}, "SGLANG_DIST_INIT_ADDR='auto': expected LWS_LEADER_ADDRESS"),
    ({**AUTO, **lws(0), "LWS_GROUP_SIZE": "two"}, "LWS_GROUP_SIZE to be a positive integer (it is 'two')"),
    ({**AUTO, **lws(0), "LWS_GROUP_SIZE": "0"}, "LWS_GROUP_SIZE to be a positive integer"),
    ({**AUTO, **lws(0), "LWS_WORKER_INDEX": "-1"}, "LWS_WORKER_INDEX to be an integer >= 0"),
    ({**AUTO, **lws(0), "LWS_LEADER_ADDRESS": "bad host!"}, "LWS_LEADER_ADDRESS to be a host name or address"),
])
def test_auto_outside_a_leaderworkerset_or_with_garbled_variables_is_one_line(env, needle):
    assert needle in str(refused(env))


# --- the rules before launch ---------------------------------------------------------------

@pytest.mark.parametrize("env,needle", [
    ({**AUTO, **lws(2, size=2)}, "SGLANG_NODE_RANK='2': expected a rank below SGLANG_NNODES=2 (0 to 1)"),
    ({"SGLANG_NNODES": "1", "SGLANG_NODE_RANK": "1"}, "a rank below SGLANG_NNODES=1"),
    ({"SGLANG_NNODES": "2"}, "SGLANG_DIST_INIT_ADDR='': expected host:port of the rank-0 node, required with SGLANG_NNODES=2"),
    ({"SGLANG_NNODES": "2", "SGLANG_DIST_INIT_ADDR": "leader:30000"}, "a port other than SGLANG_PORT=30000"),
    ({"SGLANG_NNODES": "2", "SGLANG_DIST_INIT_ADDR": "leader:8998", "SGLANG_DISAGGREGATION_MODE": "prefill"},
     "a port other than the prefill bootstrap port 8998"),
    ({"SGLANG_NNODES": "2", "SGLANG_DIST_INIT_ADDR": "leader:25000", "SGLANG_DIST_INIT_PORT": "20000"},
     "SGLANG_DIST_INIT_PORT='20000': expected unset, or the port of SGLANG_DIST_INIT_ADDR=leader:25000"),
    ({"SGLANG_DISAGGREGATION_MODE": "prefill", "SGLANG_PORT": "8998"},
     "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT='': expected a port other than SGLANG_PORT=8998: the prefill server binds both (unset means SGLang's 8998)"),
    ({"SGLANG_DISAGGREGATION_MODE": "prefill", "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT": "30000"},
     "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT='30000': expected a port other than SGLANG_PORT=30000"),
    ({"SGLANG_DISAGGREGATION_BOOTSTRAP_PORT": "9000"}, "expected unset unless SGLANG_DISAGGREGATION_MODE is prefill or decode"),
    ({"SGLANG_DISAGGREGATION_TRANSFER_BACKEND": "nixl"}, "SGLANG_DISAGGREGATION_TRANSFER_BACKEND='nixl': expected unset unless"),
    ({"SGLANG_DISAGGREGATION_IB_DEVICE": "mlx5_0"}, "SGLANG_DISAGGREGATION_IB_DEVICE='mlx5_0': expected unset unless"),
])
def test_rules_refuse_with_one_line_naming_the_setting(env, needle):
    assert needle in str(refused(env))


def test_what_the_rules_allow():
    topo({"SGLANG_NNODES": "2", "SGLANG_NODE_RANK": "1", "SGLANG_DIST_INIT_ADDR": "leader:25000", "SGLANG_DIST_INIT_PORT": "25000",
          "SGLANG_TP_SIZE": "2"})
    for env in ({"SGLANG_DISAGGREGATION_MODE": "prefill", "SGLANG_PORT": "8998", "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT": "9000"},
                {"SGLANG_DISAGGREGATION_MODE": "decode", "SGLANG_PORT": "8998"}):  # decode binds no bootstrap port
        nodes.check_disaggregation(settings.load(env))


@pytest.mark.parametrize("gpus,nnodes,heads,kv,expected", [
    (8, 2, 64, 8, 16),      # Llama-3.1-405B-like: every GPU of both nodes
    (8, 2, 40, 8, 8),       # 16, 14, 12, 10 do not divide the heads: 4 GPUs per node
    (8, 1, 40, 8, 8),
    (4, 4, 128, 128, 16),
    (8, 4, 6, 6, None),     # no multiple of 4 divides 6 heads
])
def test_auto_tp_is_gpus_per_node_times_nodes_dividing_the_heads(gpus, nnodes, heads, kv, expected):
    assert nodes.auto_tp(gpus, nnodes, heads, kv) == expected


def test_kv_heads_fewer_than_tp_are_replicated_as_sglang_does():
    # Llama-3.1-405B (128 heads, 8 KV heads) runs on TP 16 over two 8-GPU nodes; TP 12 splits no head evenly.
    assert tp.divides(16, 128, 8) and tp.divides(8, 128, 8) and tp.divides(32, 128, 8)
    assert not tp.divides(12, 128, 8) and not tp.divides(16, 40, 8) and not tp.divides(10, 40, 8)
    assert nodes.auto_tp(8, 2, 128, 8) == 16


def test_tp_across_nodes_from_the_visible_gpus_and_the_model_config():
    config = {"num_attention_heads": 40, "num_key_value_heads": 8}
    visible = {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}
    assert nodes.tp_size("auto", 2, config, visible) == 8
    assert nodes.tp_size("auto", 2, None, visible) == 16
    assert nodes.tp_size(16, 2, None, visible) == 16
    assert nodes.tp_size(None, 1, None, visible) is None
    with pytest.raises(ConfigError, match=r"SGLANG_TP_SIZE='3': expected a multiple of SGLANG_NNODES=2"):
        nodes.tp_size(3, 2, None, visible)
    with pytest.raises(ConfigError, match=r"SGLANG_TP_SIZE='': expected a multiple of SGLANG_NNODES=2: .*\(unset means 1\)"):
        nodes.tp_size(None, 2, None, visible)
    with pytest.raises(ConfigError, match="SGLANG_TP_SIZE='24'.*num_attention_heads=40"):
        nodes.tp_size(24, 2, config, visible)
    with pytest.raises(ConfigError, match="SGLANG_NNODES='4': expected a node count that"):
        nodes.tp_size("auto", 4, {"num_attention_heads": 6, "num_key_value_heads": 6}, visible)
    with pytest.raises(PreflightError, match="no GPU is visible on this node"):
        nodes.tp_size("auto", 2, None, {"CUDA_VISIBLE_DEVICES": ""})


# --- the argvs, parsed by the real SGLang ----------------------------------------------------

def plan(env: dict[str, str], version: str) -> launch.Plan:
    env = {"SGLANG_MODEL": "/models/big", "SGLANG_VERSION": version, "SGLANG_PYTHON": "python3",
           "SGLANG_MODEL_ENV_FILE": "/nonexistent/sglang-model.env", **env}
    return launch.plan(env, settings.load(env), dry_run=True)


CASES = {
    "lws leader": ({**AUTO, **lws(0), "SGLANG_TP_SIZE": "auto", "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"},
                   {"nnodes": 2, "node_rank": 0, "dist_init_addr": f"{LEADER}:20000", "tp_size": 16}),
    "lws worker": ({**AUTO, **lws(1), "SGLANG_TP_SIZE": "auto", "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"},
                   {"nnodes": 2, "node_rank": 1, "dist_init_addr": f"{LEADER}:20000", "tp_size": 16}),
    "ipv6 by hand": ({"SGLANG_NNODES": "4", "SGLANG_NODE_RANK": "3", "SGLANG_DIST_INIT_ADDR": "[fd00::2]:20000",
                      "SGLANG_TP_SIZE": "32"},
                     {"nnodes": 4, "node_rank": 3, "dist_init_addr": "[fd00::2]:20000", "tp_size": 32}),
    "prefill": ({"SGLANG_DISAGGREGATION_MODE": "prefill", "SGLANG_DISAGGREGATION_TRANSFER_BACKEND": "nixl",
                 "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT": "9000", "SGLANG_DISAGGREGATION_IB_DEVICE": "mlx5_0,mlx5_1"},
                {"disaggregation_mode": "prefill", "disaggregation_transfer_backend": "nixl",
                 "disaggregation_bootstrap_port": 9000, "disaggregation_ib_device": "mlx5_0,mlx5_1"}),
    "decode": ({"SGLANG_DISAGGREGATION_MODE": "decode", "SGLANG_DISAGGREGATION_TRANSFER_BACKEND": "mooncake"},
               {"disaggregation_mode": "decode", "disaggregation_transfer_backend": "mooncake"}),
    "multi-node prefill": ({**AUTO, **lws(1), "SGLANG_TP_SIZE": "16", "SGLANG_DISAGGREGATION_MODE": "prefill"},
                           {"nnodes": 2, "node_rank": 1, "tp_size": 16, "disaggregation_mode": "prefill"}),
}


@pytest.mark.parametrize("version", VERSIONS)
def test_planned_argvs_parse_with_the_real_sglang_and_mean_what_we_set(version):
    argvs = [plan(env, version).argv[3:] for env, _ in CASES.values()]
    results = sglang_support.parse_argvs(version, argvs)
    for (name, (_, expected)), argv, result in zip(CASES.items(), argvs, results):
        assert result.ok, (name, argv, result.error)
        ns = result.namespace
        for dest, value in expected.items():
            dest = dest if dest in ns else {"tp_size": "tensor_parallel_size"}[dest]
            assert ns[dest] == value, (name, dest, ns[dest])


def test_mooncake_tcp_is_refused_for_0_5_9_as_the_real_parser_refuses_it():
    env = {"SGLANG_DISAGGREGATION_MODE": "decode", "SGLANG_DISAGGREGATION_TRANSFER_BACKEND": "mooncake_tcp"}
    with pytest.raises(ConfigError, match=r"'mooncake_tcp' needs SGLang >= 0.5.13"):
        plan(env, "0.5.9")
    argv = plan(env, "0.5.23").argv[3:]
    old, new = sglang_support.parse_argvs("0.5.9", [argv])[0], sglang_support.parse_argvs("0.5.23", [argv])[0]
    assert not old.ok and "invalid choice: 'mooncake_tcp'" in old.error
    assert new.ok and new.namespace["disaggregation_transfer_backend"] == "mooncake_tcp"


def real_choices(version: str, flag: str) -> list[str]:
    """The choices SGLang's own parser lists when it refuses a value."""
    (result,) = sglang_support.parse_argvs(version, [["--model-path", "m", flag, "__not_a_choice__"]])
    assert not result.ok
    return re.findall(r"'([^']+)'", result.error.split("choose from", 1)[1])


@pytest.mark.parametrize("version", VERSIONS)
def test_choices_are_exactly_the_real_parsers_for_that_version(version):
    v = settings.parse_version(version)
    for name, flag in (("SGLANG_DISAGGREGATION_TRANSFER_BACKEND", "--disaggregation-transfer-backend"),
                       ("SGLANG_DISAGGREGATION_MODE", "--disaggregation-mode")):
        s = settings.BY_NAME[name]
        ours = {c for c in s.choices if v >= settings.parse_version(s.value_since.get(c, "0"))}
        real = set(real_choices(version, flag))
        # "null" is SGLang's own "not disaggregated": ours is leaving the setting unset.
        assert ours == real - {"null"}, (version, name, sorted(ours ^ (real - {"null"})))


# --- the CLI: one line, exit 2, before anything else -------------------------------------------

@pytest.mark.parametrize("extra,needle", [
    ({"SGLANG_NNODES": "auto"}, "SGLANG_NNODES='auto': expected LWS_GROUP_SIZE"),
    ({**AUTO, **lws(5)}, "SGLANG_NODE_RANK='5': expected a rank below SGLANG_NNODES=2"),
    ({**AUTO, **lws(0), "SGLANG_TP_SIZE": "3"}, "SGLANG_TP_SIZE='3': expected a multiple of SGLANG_NNODES=2"),
    ({"SGLANG_DISAGGREGATION_MODE": "prefill", "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT": "30000"},
     "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT='30000'"),
])
def test_serve_refuses_with_exit_2_and_one_line_even_with_preflight_on(extra, needle, tmp_path):
    # No dry run and a missing interpreter: the configuration error still comes first (exit 2, not 3).
    env = clean_env(SGLANG_MODEL="org/model", SGLANG_PYTHON="/nonexistent/python", HOME=str(tmp_path),
                    SGLANG_MODEL_ENV_FILE=str(tmp_path / "none.env"), **extra)
    proc = run_cli("sglang-serve", env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"sglang-serve: error: {proc.stderr.split('error: ', 1)[1].strip()}"]
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_serve_dry_run_on_a_worker_says_it_serves_no_api(tmp_path):
    env = clean_env(SGLANG_MODEL="org/model", SGLANG_VERSION="0.5.9", HOME=str(tmp_path), CUDA_VISIBLE_DEVICES="0,1",
                    SGLANG_MODEL_ENV_FILE=str(tmp_path / "none.env"), **AUTO, **lws(1))
    proc = run_cli("sglang-serve", "--dry-run", "--json", env=env, check_rc=0)
    argv = json.loads(proc.stdout)["argv"]
    assert argv[argv.index("--node-rank") + 1] == "1" and argv[argv.index("--tp-size") + 1] == "4"
    assert f"notice: node rank 1 of 2 serves no API" in proc.stderr and f"http://{LEADER}:30000" in proc.stderr


# --- wait and doctor on a node of rank > 0 ----------------------------------------------------

def wait_cli(env_extra: dict[str, str], *args: str):
    import subprocess

    env = clean_env(**env_extra)
    env = {k: v for k, v in env.items() if not k.startswith("LWS_")} | {k: v for k, v in env_extra.items() if k.startswith("LWS_")}
    return subprocess.run([str(BIN / "sglang-runtime"), "wait", "--interval", "0.1", "--timeout", "20", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_wait_on_a_worker_says_there_is_no_api_and_waits_only_for_the_health_stub():
    port = free_port()
    with StandInServer("stub", "127.0.0.1", port) as stub:  # stand-in for SGLang's rank > 0 health stub
        proc = wait_cli({**AUTO, **lws(1), "SGLANG_PORT": str(port), "SGLANG_HOST": "127.0.0.1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # no OPENAI_BASE_URL pointing at a node without an API
    assert "node rank 1 of 2 serves no API" in proc.stderr
    assert f"sglang-runtime wait --url http://{LEADER}:{port}" in proc.stderr
    assert "node rank 1 of 2 is up" in proc.stderr and "health stub only" in proc.stderr
    assert stub.paths("GET") and all(p == "/health_generate" for p in stub.paths("GET"))


def test_wait_on_the_leader_or_with_a_url_is_the_usual_wait():
    port = free_port()
    with StandInServer("api", "127.0.0.1", port):
        leader = wait_cli({**AUTO, **lws(0), "SGLANG_PORT": str(port), "SGLANG_HOST": "127.0.0.1"})
        pointed = wait_cli({**AUTO, **lws(1)}, "--url", f"http://127.0.0.1:{port}")
    for proc in (leader, pointed):
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"export OPENAI_BASE_URL=http://127.0.0.1:{port}/v1")
        assert "serves no API" not in proc.stderr


def test_wait_outside_a_leaderworkerset_with_auto_is_exit_2():
    proc = wait_cli({"SGLANG_NODE_RANK": "auto"})
    assert proc.returncode == 2 and "SGLANG_NODE_RANK='auto': expected LWS_WORKER_INDEX" in proc.stderr


def recorded(name: str) -> gpu.Probe:
    return gpu.Probe(tuple(gpu.parse_query_csv((FIXTURES / "nvidia-smi" / name).read_text())))


def doctor_env(tmp_path: Path, *envs: dict[str, str], **extra: str) -> dict[str, str]:
    import os
    import shutil

    model = tmp_path / "gpt-oss-120b"
    shutil.copytree(FIXTURES / "models" / "gpt-oss-120b", model)
    return {"SGLANG_MODEL": str(model), "SGLANG_PORT": str(free_port()), "SGLANG_HOST": "127.0.0.1",
            "SGLANG_PYTHON": sys.executable, "PATH": os.environ["PATH"], "HOME": str(tmp_path),
            **{k: v for e in envs for k, v in e.items()}, **extra}


def by_name(checks, name):
    (found,) = [c for c in checks if c.name == name][:1]
    return found


def test_doctor_on_a_worker_says_it_serves_no_api_and_counts_gpus_per_node(tmp_path):
    env = doctor_env(tmp_path, AUTO, lws(1), SGLANG_TP_SIZE="auto")
    checks = doctor.run(env, probe=recorded("a100x4.csv"), hf_cache=tmp_path / "hub")
    node = by_name(checks, "node")
    assert node.status == "ok" and "node rank 1 of 2 serves no API" in node.message and "LeaderWorkerSet" in node.message
    # 64 heads, 8 KV heads: 4 visible GPUs x 2 nodes = 8 divides both.
    tp = by_name(checks, "tensor-parallel")
    assert tp.status == "ok" and "SGLANG_TP_SIZE=auto -> 8 (4 GPUs x 2 nodes)" in tp.message


def test_doctor_on_the_leader_and_the_tp_rules(tmp_path):
    checks = doctor.run(doctor_env(tmp_path, AUTO, lws(0), SGLANG_TP_SIZE="8"), probe=recorded("a100x4.csv"),
                        hf_cache=tmp_path / "hub")
    assert "leader (rank 0 of 2)" in by_name(checks, "node").message
    assert all(c.status == "ok" for c in checks if c.name == "tensor-parallel")
    # A TP that is no multiple of the node count is a bad setting, as for serve: exit 2.
    with pytest.raises(ConfigError, match="SGLANG_TP_SIZE='6': expected a multiple of SGLANG_NNODES=4"):
        doctor.run(doctor_env(tmp_path / "b", AUTO, lws(0, size=4), SGLANG_TP_SIZE="6"),
                   probe=recorded("a100x4.csv"), hf_cache=tmp_path / "hub")
    # 16 over 2 nodes needs 8 GPUs on this node; 4 are visible.
    checks = doctor.run(doctor_env(tmp_path / "c", AUTO, lws(0), SGLANG_TP_SIZE="16"),
                        probe=recorded("a100x4.csv"), hf_cache=tmp_path / "hub")
    assert any(c.status == "fail" and "needs 8 GPUs on this node, 4 visible" in c.message
               for c in checks if c.name == "tensor-parallel")
    with pytest.raises(ConfigError, match="SGLANG_NODE_RANK='2'"):
        doctor.run(doctor_env(tmp_path / "d", AUTO, lws(2)), probe=recorded("a100x4.csv"), hf_cache=tmp_path / "hub")
