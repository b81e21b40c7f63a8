"""The package's layers (docs/architecture.md): the import contract, enforced by import-linter, and room sizes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
PACKAGE = RUNTIME / "sglang_runtime"
LAYERS = ("cli", "operate", "launch", "model", "host", "config", "util", "guest")
MAX_MODULE_LINES = 360
MAX_FUNCTION_LINES = 70


def test_import_contract_is_kept():
    """import-linter reads the contract from runtime/pyproject.toml: layers, launch/model independence, stdlib-only guest."""
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), str(RUNTIME / "pyproject.toml"), "--no-cache"], cwd=RUNTIME,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_the_contract_names_every_layer_folder_and_nothing_else():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(LAYERS)
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside a layer: {loose}"
    contract = (RUNTIME / "pyproject.toml").read_text()
    for layer in LAYERS:
        assert f'"sglang_runtime.{layer}"' in contract, layer


def test_layer_packages_are_empty_so_start_up_stays_cheap():
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").read_text().strip() == "", layer


def test_modules_and_functions_stay_small():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []
