"""One server across several nodes, and prefill/decode disaggregation: `auto` from LeaderWorkerSet and the rules
checked before launch.

Pure: settings and an environment in, values out (the GPU count comes in through tp.visible_gpus, whose
nvidia-smi call is injected). SGLang's multi-node launch is the same command on every node with
--nnodes, --node-rank and --dist-init-addr <rank 0>:<port>; LeaderWorkerSet injects into every pod of a
group LWS_LEADER_ADDRESS (the leader's stable DNS name), LWS_GROUP_SIZE and LWS_WORKER_INDEX (0 on the
leader), so `auto` reads those. Tensor parallel across nodes is the TOTAL size: each node runs
tp / nnodes GPUs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..util.address import ADDRESS_EXPECTED, join_host_port, parse_address, split_host_port, valid_host  # noqa: F401
from ..util.errors import ConfigError, PreflightError

if TYPE_CHECKING:
    from ..config.settings import Settings

LEADER_ADDRESS, GROUP_SIZE, WORKER_INDEX = "LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"
NNODES, NODE_RANK, DIST_INIT_ADDR, DIST_INIT_PORT = (
    "SGLANG_NNODES", "SGLANG_NODE_RANK", "SGLANG_DIST_INIT_ADDR", "SGLANG_DIST_INIT_PORT")
MODE, BACKEND, BOOTSTRAP_PORT, IB_DEVICE = (
    "SGLANG_DISAGGREGATION_MODE", "SGLANG_DISAGGREGATION_TRANSFER_BACKEND",
    "SGLANG_DISAGGREGATION_BOOTSTRAP_PORT", "SGLANG_DISAGGREGATION_IB_DEVICE")
# SGLang's own --disaggregation-bootstrap-port default (0.5.9 and 0.5.23): a prefill server binds it when unset.
SGLANG_BOOTSTRAP_DEFAULT = 8998

# ---------------------------------------------------------------- topology

@dataclass(frozen=True)
class Topology:
    nnodes: int
    rank: int
    dist_init_addr: str | None
    from_lws: tuple[str, ...] = ()   # the settings whose `auto` LeaderWorkerSet filled in

    @property
    def serves_api(self) -> bool:
        """Only rank 0 runs SGLang's HTTP API; the others run a health stub on the same port."""
        return self.rank == 0

    @property
    def leader_host(self) -> str | None:
        return split_host_port(DIST_INIT_ADDR, self.dist_init_addr)[0] if self.dist_init_addr else None

    def values(self) -> dict[str, Any]:
        """The resolved settings for the argv builder; a single node passes none of them."""
        out: dict[str, Any] = {}
        if self.nnodes > 1:
            out[NNODES], out[NODE_RANK] = self.nnodes, self.rank
        if self.dist_init_addr:
            out[DIST_INIT_ADDR] = self.dist_init_addr
        return out


def _from_lws(env: Mapping[str, str], setting: str, variable: str, lowest: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        raise ConfigError(setting, "auto", f"{variable}, which LeaderWorkerSet sets in its pods (it is unset here)")
    if not raw.isdigit() or int(raw) < lowest:
        what = "a positive integer" if lowest else "an integer >= 0"
        raise ConfigError(setting, "auto", f"{variable} to be {what} (it is {raw!r})")
    return int(raw)


def topology(values: "Settings", env: Mapping[str, str]) -> Topology:
    """nnodes, rank and the leader's address, `auto` read from LeaderWorkerSet; the rules that need only settings."""
    from_lws = []
    nnodes = values.get(NNODES)
    if nnodes == "auto":
        nnodes = _from_lws(env, NNODES, GROUP_SIZE, 1)
        from_lws.append(NNODES)
    rank = values.get(NODE_RANK)
    if rank == "auto":
        rank = _from_lws(env, NODE_RANK, WORKER_INDEX, 0)
        from_lws.append(NODE_RANK)
    nnodes = 1 if nnodes is None else nnodes
    rank = 0 if rank is None else rank

    address = values.get(DIST_INIT_ADDR)
    port = values.get(DIST_INIT_PORT)
    if address == "auto":
        leader = env.get(LEADER_ADDRESS, "").strip()
        if not leader:
            raise ConfigError(DIST_INIT_ADDR, "auto", f"{LEADER_ADDRESS}, which LeaderWorkerSet sets in its pods (it is unset here)")
        try:
            ipaddress.IPv6Address(leader)
        except ValueError:
            if not valid_host(leader):
                raise ConfigError(DIST_INIT_ADDR, "auto", f"{LEADER_ADDRESS} to be a host name or address (it is {leader!r})") from None
        address = join_host_port(leader, port)
        from_lws.append(DIST_INIT_ADDR)
    elif address and (env.get(DIST_INIT_PORT) or "").strip():
        # SGLANG_DIST_INIT_PORT only completes `auto`; a second, different port would be silently ignored.
        if split_host_port(DIST_INIT_ADDR, address)[1] != port:
            raise ConfigError(DIST_INIT_PORT, str(port), f"unset, or the port of SGLANG_DIST_INIT_ADDR={address} (it only completes auto)")

    if rank >= nnodes:
        raise ConfigError(NODE_RANK, str(rank), f"a rank below SGLANG_NNODES={nnodes} (0 to {nnodes - 1})")
    if nnodes > 1 and not address:
        raise ConfigError(DIST_INIT_ADDR, "", f"host:port of the rank-0 node, required with SGLANG_NNODES={nnodes} (auto in a LeaderWorkerSet)")
    if address:
        _, dist_port = split_host_port(DIST_INIT_ADDR, address)
        if dist_port == values.get("SGLANG_PORT"):
            raise ConfigError(DIST_INIT_ADDR, address, f"a port other than SGLANG_PORT={dist_port} (the leader binds both)")
        if dist_port == bootstrap_port(values):
            raise ConfigError(DIST_INIT_ADDR, address, f"a port other than the prefill bootstrap port {dist_port} (the leader binds both)")
    requested_tp = values.get("SGLANG_TP_SIZE")
    if nnodes > 1 and requested_tp != "auto":
        check_tp(requested_tp or 1, nnodes, explicit=requested_tp is not None)
    return Topology(nnodes, rank, address, tuple(from_lws))


# ---------------------------------------------------------------- tensor parallel across nodes

def auto_tp(gpus_per_node: int, nnodes: int, attention: int | None, kv: int | None) -> int | None:
    """Total TP for `auto`: the most GPUs per node (<= visible) whose total the heads allow; None if none does."""
    from .tp import divides

    return next((g * nnodes for g in range(gpus_per_node, 0, -1) if divides(g * nnodes, attention, kv)), None)


def check_tp(size: int, nnodes: int, explicit: bool) -> None:
    if size % nnodes:
        what = str(size) if explicit else ""
        unset = "" if explicit else " (unset means 1)"
        raise ConfigError("SGLANG_TP_SIZE", what, f"a multiple of SGLANG_NNODES={nnodes}: each node runs TP/nodes GPUs{unset}")


def tp_size(requested: int | str | None, nnodes: int, config: Mapping[str, Any] | None, env: Mapping[str, str],
            run: Callable[..., Any] | None = None) -> int | None:
    """The --tp-size to pass: single-node rules as before; across nodes the total, a multiple of the node count."""
    from . import tp

    if nnodes == 1:
        return None if requested is None else tp.resolve(requested, config, env, run)
    attention, kv = tp.heads(config) if config else (None, None)
    if requested == "auto":
        gpus = tp.visible_gpus(env, run)
        if gpus < 1:
            raise PreflightError(f"SGLANG_TP_SIZE=auto: no GPU is visible on this node (CUDA_VISIBLE_DEVICES or nvidia-smi -L); set SGLANG_TP_SIZE to a number")
        size = auto_tp(gpus, nnodes, attention, kv)
        if size is None:
            raise ConfigError(NNODES, str(nnodes), f"a node count that, times some GPUs per node (up to the {gpus} visible), "
                              f"divides the model's heads (num_attention_heads={attention}, num_key_value_heads={kv})")
        return size
    size = 1 if requested is None else int(requested)
    check_tp(size, nnodes, requested is not None)
    tp.check(size, attention, kv)
    return size


# ---------------------------------------------------------------- prefill/decode disaggregation

def bootstrap_port(values: "Settings") -> int | None:
    """The port a prefill server's bootstrap server binds (SGLang's default when unset); None when not prefill."""
    if values.get(MODE) != "prefill":
        return None
    return values.get(BOOTSTRAP_PORT) or SGLANG_BOOTSTRAP_DEFAULT


def check_disaggregation(values: "Settings") -> None:
    mode = values.get(MODE)
    if mode is None:
        for name in (BACKEND, BOOTSTRAP_PORT, IB_DEVICE):
            if values.get(name) not in (None, ""):
                raise ConfigError(name, str(values.get(name)), f"unset unless {MODE} is prefill or decode (SGLang ignores it otherwise)")
        return
    port = bootstrap_port(values)
    if port is not None and port == values.get("SGLANG_PORT"):
        shown = str(values.get(BOOTSTRAP_PORT) or "")
        default = "" if values.get(BOOTSTRAP_PORT) else f" (unset means SGLang's {SGLANG_BOOTSTRAP_DEFAULT})"
        raise ConfigError(BOOTSTRAP_PORT, shown, f"a port other than SGLANG_PORT={port}: the prefill server binds both{default}")


# ---------------------------------------------------------------- what rank > 0 serves

def no_api_note(topo: Topology, http_port: int) -> str:
    leader = topo.leader_host or "the rank-0 node"
    return (f"node rank {topo.rank} of {topo.nnodes} serves no API: SGLang runs only a health stub on port {http_port} "
            f"here (200 on /health and /health_generate without generating, once this node's schedulers are up); "
            f"the API is on the leader, http://{leader}:{http_port}")
