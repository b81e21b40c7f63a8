"""Start-up phases read from SGLang's log: real CPU logs of 0.5.23 and 0.5.9 (recorded by the real-server
tier: tiny model and SmolLM2), hand-made GPU-shaped logs (named gpu-shaped-*, each says so in its first
line), and hostile input."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from sglang_runtime.operate import health, phases, startup_view
from sglang_runtime.util import inert

LOGS = Path(__file__).parent / "fixtures" / "logs"
REAL = sorted(p for p in LOGS.glob("*.log") if not p.name.startswith("gpu-shaped"))
GPU_SHAPED = sorted(LOGS.glob("gpu-shaped-*.log"))


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8", "replace").split("\n")


def _phase_changes(lines) -> tuple[list[str], list[phases.Event]]:
    timeline, order, events = phases.Timeline(), ["imports"], []
    for i, line in enumerate(lines):
        event = phases.parse(line)
        if event is not None:
            events.append(event)
            if timeline.feed(event, float(i)):
                order.append(event.phase)
    return order, events


def test_the_recorded_logs_are_the_ones_described():
    assert [p.name for p in REAL] == ["0.5.23-smollm2.log", "0.5.23-tiny.log", "0.5.9-smollm2.log", "0.5.9-tiny.log"]
    for path in GPU_SHAPED:
        assert _lines(path)[0].startswith("# HAND-MADE, not a real log")


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_a_real_cpu_start_passes_every_cpu_phase_in_order(path):
    order, events = _phase_changes(_lines(path))
    assert tuple(order) == phases.CPU_PHASES
    assert phases.Event("kv_cache", 4096, 4096, "tokens") in events  # --max-total-tokens 4096
    shards = [e for e in events if e.unit == "shards"]
    assert shards[-1] == phases.Event("weights", 1, 1, "shards")


@pytest.mark.parametrize("path", GPU_SHAPED, ids=lambda p: p.stem)
def test_a_gpu_shaped_start_shows_download_bytes_shards_and_graph_batches(path):
    order, events = _phase_changes(_lines(path)[1:])
    compiled = ["compile"] if "0.5.23" in path.name else []
    assert order == ["imports", "args", "distributed", "weights", "download", "weights", "kv_cache", *compiled, "graphs",
                     "warmup", "ready"]
    if compiled:
        assert [e for e in events if e.phase == "compile"][-1] == phases.Event("compile", 4, 4, "shapes")
    downloads = [e for e in events if e.phase == "download"]
    assert downloads[-1] == phases.Event("download", 1_170_000_000, 1_170_000_000, "B")  # the last drawing of the bar
    assert phases.Event("weights", 2, 2, "shards") in events
    assert phases.Event("kv_cache", 437404, 437404, "tokens") in events
    assert [e for e in events if e.unit == "batches"][-1] == phases.Event("graphs", 6, 6, "batches")


def test_each_drawing_of_a_carriage_return_bar_reads_in_order():
    line = next(line for line in _lines(GPU_SHAPED[0]) if line.startswith("Capturing batches"))
    seen = [phases.parse(segment) for segment in line.split("\r")]
    assert [(e.done, e.total) for e in seen] == [(i, 6) for i in range(7)]
    assert phases.parse(line) == phases.Event("graphs", 6, 6, "batches")  # the whole line: its last drawing


def test_every_cpu_row_quotes_a_line_of_the_recorded_logs_and_gpu_rows_say_so():
    text = "\n".join(p.read_text(errors="replace") for p in REAL)
    for row in phases.TABLE:
        assert row.phase in phases.ORDER
        if row.seen == "CPU":
            assert row.needle in row.source and row.needle in text, row
            assert phases.parse(row.source) is not None
        else:
            assert row.seen == phases.GPU and row.needle not in text
            assert any(row.needle in line for p in GPU_SHAPED for line in _lines(p)), row


def test_unknown_lines_are_ignored():
    for line in ["", "Traceback (most recent call last):", "[2026-12-05] Prefill batch, #new-seq: 1", "x" * 10000,
                 "\r\r\r", "KV Cache", "weights 3/4 [", "model.safetensors is here"]:
        assert phases.parse(line) is None


def test_a_release_limits_the_rows():
    assert phases.parse("[t] Init parallel begin.", "0.5.9") is None
    assert phases.parse("[t] Init parallel begin.", "0.5.23") == phases.Event("distributed")


def test_escape_sequences_do_not_hide_a_phase_and_never_reach_the_output():
    line = "\x1b[32m[2026-12-05 08:49:05] KV Cache is allocated. #tokens: \x1b[1m77\x1b[0m, K size: 0.00 GB"
    assert phases.parse(line) == phases.Event("kv_cache", 77, 77, "tokens")
    out = io.StringIO()
    view = startup_view.StartupView("plain", out, clock=iter(range(100)).__next__)
    view.lines([line, "\x1b]0;pwned\x07", "The server is fired up and ready to roll!\x1b[2J"])
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    assert inert.line("a\x1b[2Jb\rc\x9bd\te") == "a\\x1b[2Jb\\x0dc\\x9bd\te"


def test_megabyte_lines_are_cut_before_matching():
    needle_late = "x" * (2 << 20) + " Load weight begin."
    assert phases.parse(needle_late) is None  # beyond MAX_LINE: not read
    digits = "1" * (4 << 20)
    started = time.process_time()
    for line in (digits, digits + "/", ("1/" * (2 << 20)), ("\r" + "Capturing batches 1/") * (1 << 18),
                 "KV Cache is allocated. #tokens: " + digits):
        phases.parse(line)
    # A hang detector, not a speed target (benchmarks/wait_cost.py measures): quadratic work on 4 MB takes minutes.
    assert time.process_time() - started < 5


def test_a_log_truncated_while_read_is_read_again_from_its_start(tmp_path):
    log = tmp_path / "server.log"
    real = _lines(LOGS / "0.5.9-tiny.log")
    cut = next(i for i, line in enumerate(real) if "Load weight begin." in line)
    log.write_text("\n".join(real[:cut]) + "\n")
    watch = health.LogWatch(log)
    out = io.StringIO()
    view = startup_view.StartupView("json", out, clock=iter(range(1000)).__next__)
    watch.observer = view.lines
    watch.fatal()
    with open(log, "r+") as fh:  # logrotate's copytruncate: same file, emptied, then written again
        fh.truncate(0)
    watch.fatal()
    log.write_text("\n".join(real[cut:]) + "\n")
    watch.fatal()
    seen = [json.loads(line)["phase"] for line in out.getvalue().splitlines()]
    assert seen[0] == "imports" and seen[-1] == "ready"
    assert [p for p in phases.CPU_PHASES if p in seen] == list(phases.CPU_PHASES)


def test_timeline_durations_add_up_and_ready_takes_no_time():
    timeline = phases.Timeline()
    for phase, t in (("args", 3), ("weights", 5), ("download", 6), ("weights", 16), ("kv_cache", 20), ("ready", 30)):
        timeline.feed(phases.Event(phase), t)
    assert timeline.finish(99) == {"imports": 3, "args": 2, "weights": 5, "download": 10, "kv_cache": 10}


def test_plain_lines_one_per_phase_and_json_one_per_event():
    lines = _lines(GPU_SHAPED[1])
    plain, as_json = io.StringIO(), io.StringIO()
    for mode, out in (("plain", plain), ("json", as_json)):
        view = startup_view.StartupView(mode, out, clock=iter(range(1000)).__next__, estimate=200.0)
        view.lines(lines)
    text = plain.getvalue()
    assert "\r" not in text and len(text.splitlines()) == 10
    assert text.splitlines()[4].endswith("] phase: downloading weights 5.0/5.0 GB, ~191 s left (last start 200 s)")
    assert text.splitlines()[-1].endswith("] phase: ready")
    events = [json.loads(line) for line in as_json.getvalue().splitlines()]
    assert all(set(e) >= {"phase", "done", "total", "t"} for e in events)
    assert {"phase": "graphs", "done": 6, "total": 6, "unit": "batches"}.items() <= events[-3].items()
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)


def test_live_mode_redraws_one_line_and_notes_go_above_it():
    lines = _lines(GPU_SHAPED[0])
    out = io.StringIO()
    view = startup_view.StartupView("live", out, clock=iter(range(1000)).__next__, estimate=200.0)
    view.lines(lines[:8])
    view.note("[    1.0s] refused: connection refused")
    view.lines(lines[8:])
    view.close()
    text = out.getvalue()
    assert text.count("\n") == 2 and text.endswith("] ready\n")  # the note, and the live line left at the end
    assert "capturing CUDA graphs 6/6 batches, ~" in text and "\x1b" not in text
    assert "refused: connection refused\n" in text
