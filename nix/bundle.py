"""Builder of lib.mkHfModelBundle: lays out one model in Hugging Face cache layout.

Runs inside a Nix build with a bare Python (standard library only). The whole
request arrives as one JSON document in $bundleSpec, so no user value is ever
read by a shell. The output is the layout `sglang-resolve-model` searches:

    $out/share/models/hub/models--<org>--<name>/refs/main        -> "<snapshot id>"
    $out/share/models/hub/models--<org>--<name>/snapshots/<id>/  -> the files

Files are symlinks to the store paths they came from (as in a real HF cache,
where snapshots link to blobs), so a bundle costs no second copy of the weights;
only a patched tokenizer_config.json becomes a file of its own.
"""

import json
import os
import sys
import tempfile

# Index files that name the shards a model's weights are split into.
INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")


def repo_dir_name(repo):
    org, name = repo.split("/")
    return f"models--{org}--{name}"


def entries_from_dir(src):
    """Every regular file under src as (relative path, absolute path), sorted for a stable build log."""
    found = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            found.append((os.path.relpath(path, src), path))
    return found


def missing_shards(snapshot):
    """Shards named by a weight index that the snapshot lacks, as 'index: shard' strings."""
    missing = []
    for rel, _ in entries_from_dir(snapshot):
        if not rel.endswith(INDEX_SUFFIXES):
            continue
        with open(os.path.join(snapshot, rel), encoding="utf-8") as fh:
            weight_map = json.load(fh).get("weight_map", {})
        base = os.path.dirname(os.path.join(snapshot, rel))
        for shard in sorted(set(weight_map.values())):
            if not os.path.isfile(os.path.join(base, shard)):
                missing.append(f"{rel}: {shard}")
    return missing


def write_json_atomically(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    # Replaces the symlink to the source file, never the source file itself.
    os.replace(tmp, path)


def patch_tokenizers(snapshot, fix):
    """Apply the runtime's tokenizer fix to every tokenizer_config.json; returns the patched paths."""
    patched = []
    for rel, path in entries_from_dir(snapshot):
        if os.path.basename(rel) != "tokenizer_config.json":
            continue
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
        fixed = fix(config)
        if fixed != config:
            write_json_atomically(path, fixed)
            patched.append(rel)
    return patched


def load_fix(shim_src):
    """The runtime's own pure tokenizer-config fix, so the bundle and the shim can never disagree."""
    sys.path.insert(0, shim_src)
    from sglang_runtime.shim import patched_config

    return patched_config


def build(spec, out):
    repo_dir = os.path.join(out, "share", "models", "hub", repo_dir_name(spec["repo"]))
    snapshot = os.path.join(repo_dir, "snapshots", spec["revision"])
    if "dir" in spec:
        entries = entries_from_dir(spec["dir"])
    else:
        entries = [(f["name"], f["path"]) for f in spec["files"]]
    if not entries:
        raise SystemExit(f"mkHfModelBundle: {spec['repo']}: no files to bundle")
    for rel, source in entries:
        dest = os.path.join(snapshot, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.symlink(source, dest)

    missing = missing_shards(snapshot)
    if missing:
        raise SystemExit(f"mkHfModelBundle: {spec['repo']}: shards missing: {', '.join(missing)}")

    if spec.get("shimSrc"):
        for rel in patch_tokenizers(snapshot, load_fix(spec["shimSrc"])):
            print(f"mkHfModelBundle: patched {rel}")

    os.makedirs(os.path.join(repo_dir, "refs"), exist_ok=True)
    # No trailing newline: huggingface_hub writes refs the same way.
    with open(os.path.join(repo_dir, "refs", "main"), "w", encoding="utf-8") as fh:
        fh.write(spec["revision"])


if __name__ == "__main__":
    build(json.loads(os.environ["bundleSpec"]), os.environ["out"])
