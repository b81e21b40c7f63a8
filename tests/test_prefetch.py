"""Weight prefetch from the hand-over: which files in SGLang's order (prefetch_plan.py), the memory bound,
what serve hands over, and the reader inside the server (prefetch.py) run for real through the bootstrap.

The bootstrap tests start the real bootstrap with a stand-in `sglang` package (a launch_server that spawns
a child as SGLang does); the real-server check is in tests/e2e/test_tiny_server.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from page_cache import evict
from sglang_runtime.guest import bootstrap, prefetch
from sglang_runtime.launch import flagdata, plan as launch, prefetch_plan
from sglang_runtime.config import settings
from sglang_runtime.launch.prefetch_plan import load_order

from conftest import clean_env, run_cli, write_model

V23, V9 = (0, 5, 23), (0, 5, 9)
SHARDS = ["model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model-00001-of-00003.safetensors"]


# ---------------------------------------------------------------- which files, in which order (pure)

def test_sglang_0_5_10_and_later_load_the_shards_sorted_0_5_9_in_directory_order():
    names = ["config.json", *SHARDS, "model.safetensors.index.json"]
    assert load_order(names, set(SHARDS), V23) == sorted(SHARDS)
    assert load_order(names, set(SHARDS), (0, 5, 10)) == sorted(SHARDS)
    assert load_order(names, set(SHARDS), V9) == SHARDS
    # SGLANG_SORT_WEIGHT_FILES=-1 keeps glob order; a positive value staggers but still sorts first.
    assert load_order(names, set(SHARDS), V23, "-1") == SHARDS
    assert load_order(names, set(SHARDS), V23, "2") == sorted(SHARDS)


def test_only_the_files_the_index_names_and_never_a_hidden_file():
    names = [*SHARDS, "consolidated.safetensors", ".model-00004.safetensors"]
    assert load_order(names, set(SHARDS[:2]), V23) == sorted(SHARDS[:2])
    assert load_order(names, None, V23) == sorted([*SHARDS, "consolidated.safetensors"])


def test_mistral_layout_without_an_index_reads_model_safetensors_only():
    assert load_order(["consolidated.safetensors", "model.safetensors"], None, V23) == ["model.safetensors"]


def test_bin_files_only_without_safetensors_and_never_training_state():
    names = ["pytorch_model-00001.bin", "optimizer.bin", "training_args.bin", "pytorch_model-00002.bin"]
    assert load_order(names, None, V23) == ["pytorch_model-00001.bin", "pytorch_model-00002.bin"]
    assert load_order([*names, "model.safetensors"], None, V23) == ["model.safetensors"]


# ---------------------------------------------------------------- the memory bound (pure)

GIB = 1 << 30


def test_decision_fits_skips_and_on_overrides():
    kept = prefetch_plan.reserve(10 * GIB, None)
    assert kept == prefetch_plan.SERVER_RESERVE
    assert prefetch_plan.decide("auto", 10 * GIB, 3, 20 * GIB, kept) is None
    skip = prefetch_plan.decide("auto", 10 * GIB, 3, 12 * GIB, kept)
    assert skip.startswith("the weights (10.74 GB) do not fit beside the server: 12.88 GB available")
    assert prefetch_plan.decide("on", 10 * GIB, 3, 12 * GIB, kept) is None
    assert prefetch_plan.decide("off", 1, 1, 20 * GIB, kept) == "SGLANG_PREFETCH_WEIGHTS=off"
    assert "memory unknown" in prefetch_plan.decide("auto", 1, 1, None, kept)
    assert "no weight files" in prefetch_plan.decide("on", 0, 0, 20 * GIB, kept)


def test_a_cpu_device_keeps_the_weights_twice():
    # SGLang copies the weights out of the files into its own memory on the CPU.
    assert prefetch_plan.reserve(10 * GIB, "cpu") == prefetch_plan.SERVER_RESERVE + 10 * GIB
    assert prefetch_plan.reserve(10 * GIB, "cuda") == prefetch_plan.SERVER_RESERVE


def test_meminfo_and_cgroup_figures():
    assert prefetch_plan.meminfo_available("MemTotal: 100 kB\nMemAvailable:   2048 kB\n") == 2 << 20
    assert prefetch_plan.meminfo_available("MemTotal: 100 kB\n") is None
    # A pod's limit: 8 GiB, 7 GiB used of which 3 GiB page cache -> 4 GiB room.
    assert prefetch_plan.cgroup_room(str(8 * GIB), str(7 * GIB), f"anon 1\nfile {3 * GIB}\n", "file") == 4 * GIB
    assert prefetch_plan.cgroup_room("max\n", "5", "", "file") is None
    assert prefetch_plan.cgroup_room("9223372036854771712", "5", "", "total_cache") is None  # v1 unlimited


def test_memory_available_takes_the_smaller_of_host_and_cgroup():
    files = {"/proc/meminfo": "MemAvailable: 20971520 kB\n",  # 20 GiB
             "/proc/self/cgroup": "0::/kubepods/pod1\n",
             "/sys/fs/cgroup/kubepods/pod1/memory.max": str(6 * GIB),
             "/sys/fs/cgroup/kubepods/pod1/memory.current": str(2 * GIB),
             "/sys/fs/cgroup/kubepods/pod1/memory.stat": f"file {GIB}\n"}
    assert prefetch_plan.memory_available(lambda p: files.get(p, "")) == 5 * GIB
    # Inside a cgroup namespace: the own path is not under the mount, the mount root is the cgroup.
    ns = {"/proc/meminfo": files["/proc/meminfo"], "/proc/self/cgroup": "0::/\n",
          "/sys/fs/cgroup/memory.max": str(3 * GIB), "/sys/fs/cgroup/memory.current": "0", "/sys/fs/cgroup/memory.stat": ""}
    assert prefetch_plan.memory_available(lambda p: ns.get(p, "")) == 3 * GIB


def test_option_values_are_read_as_sglang_parses_them():
    release = flagdata.load("0.5.23")
    args = ["--model-path", "m", "--dev=cpu", "--load-format", "dummy"]
    assert prefetch_plan.option_value(args, release, "device") == "cpu"
    assert prefetch_plan.option_value(args, release, "load_format") == "dummy"
    assert prefetch_plan.option_value(["--model-path", "m"], release, "device") is None


# ---------------------------------------------------------------- the plan for a real folder

def _model(tmp_path: Path, sizes=(3000, 2000, 1000)) -> Path:
    directory = write_model(tmp_path / "model", shards=len(sizes))
    for i, size in enumerate(sizes, 1):
        (directory / f"model-{i:05d}-of-{len(sizes):05d}.safetensors").write_bytes(os.urandom(size))
    return directory


def test_gather_lists_sizes_and_hands_over_names_only(tmp_path):
    directory = _model(tmp_path)
    plan = prefetch_plan.gather("auto", directory, "0.5.23", [], {prefetch_plan.MEMORY_OVERRIDE: str(64 * GIB)})
    assert plan.skip is None and plan.total == 6000
    assert [n for n, _ in plan.files] == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    spec = json.loads(plan.handover()[prefetch.ENV])
    assert spec["dir"] == str(directory) and spec["files"] == [n for n, _ in plan.files]
    assert prefetch.parse(plan.handover()[prefetch.ENV]) == ([str(directory / n) for n, _ in plan.files], prefetch.BLOCK)


@pytest.mark.parametrize("mode, memory, args, skipped", [
    ("auto", 1000, [], "do not fit beside the server"),
    ("on", 1000, [], None),
    ("off", 64 * GIB, [], "SGLANG_PREFETCH_WEIGHTS=off"),
    ("auto", 64 * GIB, ["--load-format", "dummy"], "--load-format dummy does not read"),
])
def test_gather_skips_with_the_reason(tmp_path, mode, memory, args, skipped):
    plan = prefetch_plan.gather(mode, _model(tmp_path), "0.5.23", args, {prefetch_plan.MEMORY_OVERRIDE: str(memory)})
    if skipped is None:
        assert plan.skip is None and plan.handover()
    else:
        assert skipped in plan.skip and plan.handover() == {}


def test_a_model_sglang_downloads_is_not_prefetched():
    plan = prefetch_plan.gather("auto", None, "0.5.23", [], {})
    assert plan.handover() == {} and "not a local directory" in plan.line()


def test_serve_dry_run_says_what_will_happen_and_the_server_environment_carries_it(tmp_path):
    directory = _model(tmp_path)
    env = clean_env(SGLANG_MODEL=str(directory), SGLANG_VERSION="0.5.23", FLOX_ENV_CACHE=str(tmp_path / "cache"),
                    **{prefetch_plan.MEMORY_OVERRIDE: str(64 * GIB)})
    proc = run_cli("sglang-serve", "--dry-run", "--json", env=env, check_rc=0)
    shown = json.loads(proc.stdout)["prefetch"]
    assert shown["reads"] and shown["bytes"] == 6000 and len(shown["files"]) == 3
    assert "notice: prefetch: 3 weight file(s), 0.00 GB, read into the page cache from the hand-over" in proc.stderr
    small = run_cli("sglang-serve", "--dry-run", env={**env, prefetch_plan.MEMORY_OVERRIDE: "5000"}, check_rc=0)
    assert [line for line in small.stderr.splitlines() if "prefetch" in line] == [
        "notice: prefetch: skipped: the weights (0.00 GB) do not fit beside the server: 0.00 GB available, "
        "4.29 GB kept for the server; SGLANG_PREFETCH_WEIGHTS=on reads them anyway"]
    values = settings.load(env)
    plan = launch.plan(env, values, dry_run=True)
    child = plan.child_env({**env, prefetch.ENV: '{"dir": "/etc", "files": ["shadow"]}'})
    assert json.loads(child[prefetch.ENV])["dir"] == str(directory)  # never one inherited from the caller
    off = launch.plan(env, settings.load({**env, "SGLANG_PREFETCH_WEIGHTS": "off"}), dry_run=True)
    assert prefetch.ENV not in off.child_env({**env, prefetch.ENV: "x"})


def test_sglang_own_options_are_refused_in_one_line_where_the_release_lacks_them(tmp_path):
    directory = _model(tmp_path)
    env = clean_env(SGLANG_MODEL=str(directory), SGLANG_VERSION="0.5.9", FLOX_ENV_CACHE=str(tmp_path / "cache"),
                    SGLANG_STARTUP_WEIGHT_LOAD_MODE="overlap")
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=2)
    assert proc.stderr.strip().splitlines() == [
        "sglang-serve: error: SGLANG_STARTUP_WEIGHT_LOAD_MODE='overlap': expected unset: SGLang 0.5.9 has no flag "
        "for it (--startup-weight-load-mode needs SGLang >= 0.5.18)"]
    env.update(SGLANG_VERSION="0.5.23", SGLANG_WEIGHT_LOADER_PREFETCH="1", SGLANG_WEIGHT_LOADER_PREFETCH_THREADS="2")
    argv = json.loads(run_cli("sglang-serve", "--dry-run", "--json", env=env, check_rc=0).stdout)["argv"]
    assert argv[-5:] == ["--weight-loader-prefetch-checkpoints", "--weight-loader-prefetch-num-threads", "2",
                         "--startup-weight-load-mode", "overlap"]


# ---------------------------------------------------------------- the reader (prefetch.py)

def test_the_hand_over_is_checked_before_anything_is_read():
    assert prefetch.parse("{not json") is None
    assert prefetch.parse(json.dumps({"dir": "/m", "files": ["../etc/passwd"]})) is None
    assert prefetch.parse(json.dumps({"dir": "/m", "files": [".."]})) is None
    assert prefetch.parse(json.dumps({"dir": "/m", "files": ["a"], "block": True})) is None
    assert prefetch.parse(json.dumps({"dir": "/m", "files": ["a"], "block": 1})) is None
    assert prefetch.parse(json.dumps({"dir": "/m", "files": ["a"]})) == (["/m/a"], prefetch.BLOCK)


def test_read_file_opens_read_only_reads_everything_and_skips_what_is_cached(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    path.write_bytes(os.urandom(3 * 65536 + 123))
    flags = []
    real_open = os.open
    monkeypatch.setattr(prefetch.os, "open", lambda p, f, *a: flags.append(f) or real_open(p, f, *a))
    evict(path)
    read, cached = prefetch.read_file(str(path), bytearray(65536))
    assert read + cached == path.stat().st_size and read > 0
    assert flags and all(f & os.O_ACCMODE == os.O_RDONLY for f in flags)
    # Now every block is in the page cache: nothing is read again.
    assert prefetch.read_file(str(path), bytearray(65536)) == (0, path.stat().st_size)


FAKE_LAUNCH_SERVER = textwrap.dedent('''
    """Stand-in for sglang.launch_server: reports the reader beside it, spawns a child as SGLang does."""
    import multiprocessing as mp, os, sys, time
    from sglang.worker import child

    def readers():
        found = []
        for kid in open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read().split():
            try:
                if open(f"/proc/{kid}/comm").read().strip() == "sglang-prefetch":
                    found.append(int(kid))
            except OSError:
                pass
        return found

    if __name__ == "__main__":
        print("readers", readers(), "handover in environment:", any(k.endswith("PREFETCH") for k in os.environ), flush=True)
        mp.set_start_method("spawn", force=True)
        p = mp.Process(target=child)
        p.start(); p.join()
        if sys.argv[-1] == "wait":
            deadline = time.monotonic() + 60
            while readers() and time.monotonic() < deadline:
                time.sleep(0.05)
            print("readers after", readers(), flush=True)
''')
FAKE_WORKER = textwrap.dedent('''
    import os

    def child():
        print("child: handover in environment:", any(k.endswith("PREFETCH") for k in os.environ), flush=True)
''')


def _run_bootstrap(tmp_path: Path, handover: str, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    package = tmp_path / "site" / "sglang"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text(FAKE_LAUNCH_SERVER)
    (package / "worker.py").write_text(FAKE_WORKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG")}
    env.pop(bootstrap.SECRET_ARGV, None)
    env.update(PYTHONPATH=str(tmp_path / "site"), **{prefetch.ENV: handover})
    began = time.monotonic()
    proc = subprocess.run([sys.executable, bootstrap.__file__, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path)
    return proc, time.monotonic() - began


def test_bootstrap_reads_the_files_in_a_process_of_its_own_and_changes_nothing(tmp_path):
    directory = _model(tmp_path, sizes=(5 << 20, 3 << 20, 1 << 20))
    before = {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    for p in directory.iterdir():
        evict(p)
    plan = prefetch_plan.gather("on", directory, "0.5.23", [], {})
    proc, _ = _run_bootstrap(tmp_path, plan.handover()[prefetch.ENV], "wait")
    assert proc.returncode == 0, proc.stderr
    # The hand-over never reaches SGLang's children. (The reader may be done before launch_server looks:
    # the FIFO test below shows it as the server's child process.)
    first = proc.stdout.splitlines()[0]
    assert first.startswith("readers [") and first.endswith("handover in environment: False")
    assert "child: handover in environment: False" in proc.stdout
    assert "readers after []" in proc.stdout  # ended and reaped: no zombie beside the server
    done = [line for line in proc.stderr.splitlines() if line.startswith("sglang-runtime prefetch:")]
    assert len(done) == 1 and done[0].startswith("sglang-runtime prefetch: 3 weight file(s): ")
    read, cached = (float(done[0].split(": ", 2)[2].split(" GB")[0]), float(done[0].split(", ")[1].split(" GB")[0]))
    assert read > 0 and round(read + cached, 2) == round(9 * (1 << 20) / 1e9, 2)
    after = {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    assert after == before


def test_a_blocked_reader_does_not_keep_the_server_alive_nor_outlive_it(tmp_path):
    """A weight 'file' that never delivers (a FIFO nobody writes): the server exits at once all the same,
    and the kernel ends its reader with it."""
    directory = tmp_path / "model"
    directory.mkdir()
    os.mkfifo(directory / "model.safetensors")
    proc, seconds = _run_bootstrap(tmp_path, json.dumps({"dir": str(directory), "files": ["model.safetensors"]}))
    assert proc.returncode == 0, proc.stderr
    pids = json.loads(proc.stdout.splitlines()[0].split("readers ", 1)[1].split(" handover")[0])
    assert len(pids) == 1 and seconds < 20
    assert "sglang-runtime prefetch:" not in proc.stderr  # it was still blocked when the server ended
    deadline = time.monotonic() + 10
    while _running(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pids[0]), "the reader outlived the server"


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"  # a zombie has ended; its new parent reaps it


def test_a_bad_hand_over_is_one_line_and_the_server_still_starts(tmp_path):
    proc, _ = _run_bootstrap(tmp_path, json.dumps({"dir": "/", "files": ["../etc/shadow"]}))
    assert proc.returncode == 0 and "readers [] " in proc.stdout and "child:" in proc.stdout
    assert proc.stderr.splitlines() == [f"sglang-runtime prefetch: {prefetch.ENV} is not the launcher's hand-over; not prefetching"]


def test_an_unreadable_file_is_named_and_the_rest_is_read(tmp_path):
    directory = _model(tmp_path, sizes=(4096, 4096))
    names = [n for n, _ in prefetch_plan.gather("on", directory, "0.5.23", [], {}).files]
    lines = []
    result = prefetch.run([str(directory / "gone.safetensors"), *(str(directory / n) for n in names)], 65536, lines.append)
    assert result["failed"] == ["gone.safetensors (No such file or directory)"]
    assert result["read"] + result["cached"] == 8192 and len(lines) == 1


def test_doctor_says_what_the_prefetch_will_do_and_names_sglang_own_options(tmp_path):
    from sglang_runtime.operate import doctor

    directory = _model(tmp_path)
    values = settings.load({"SGLANG_MODEL": str(directory), "SGLANG_VERSION": "0.5.23"})
    check = doctor.prefetch_check(values, directory, None, {prefetch_plan.MEMORY_OVERRIDE: str(64 * GIB)})
    assert check.status == doctor.OK and check.message.startswith("3 weight file(s), 0.00 GB, read into the page cache")
    assert "SGLang 0.5.23 also has --weight-loader-prefetch-checkpoints (SGLANG_WEIGHT_LOADER_PREFETCH=1)" in check.message
    small = doctor.prefetch_check(values, directory, None, {prefetch_plan.MEMORY_OVERRIDE: "1"})
    assert small.status == doctor.WARN and "do not fit" in small.message and "SGLANG_PREFETCH_WEIGHTS=on" in small.fix
    old = doctor.prefetch_check(settings.load({"SGLANG_MODEL": str(directory)}), directory, "0.5.9", {})
    assert old.message.endswith("SGLang 0.5.9 has no prefetch of its own")
