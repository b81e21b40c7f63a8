"""Builder of lib.mkHfModelBundle: lays out one model in Hugging Face cache layout.

Runs inside a Nix build with a bare Python (standard library only). The whole
request arrives as one JSON document in $bundleSpec, so no user value is ever
read by a shell. The output is the layout `sglang-resolve-model` searches:

    $out/share/models/hub/models--<org>--<name>/refs/main        -> "<snapshot id>"
    $out/share/models/hub/models--<org>--<name>/snapshots/<id>/  -> the files

Files are symlinks to the store paths they came from (as in a real HF cache,
where snapshots link to blobs), so a bundle costs no second copy of the weights;
only a translated config.json / tokenizer_config.json (patchTokenizer: the
runtime's transformers-5 -> 4 translation) becomes a file of its own.
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


def write_json_atomically(path, text):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    # Replaces the symlink to the source file, never the source file itself.
    os.replace(tmp, path)


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def translate_dirs(snapshot, compat):
    """Apply the runtime's transformers-5 -> 4 translation in every directory holding a config it reads.

    Returns the rewritten paths and the rules applied; a checkpoint 4.x cannot read
    with the same meaning fails the build with the runtime's own one-line refusal.
    """
    dirs = sorted({os.path.dirname(rel) for rel, _ in entries_from_dir(snapshot)
                   if os.path.basename(rel) in compat.FILES})
    patched, applied = [], []
    for rel_dir in dirs:
        base = os.path.join(snapshot, rel_dir)
        files = {name: read_json(os.path.join(base, name)) for name in compat.FILES if os.path.isfile(os.path.join(base, name))}
        result = compat.translate(files)
        if result.refused:
            where = f"{rel_dir}/" if rel_dir else ""
            raise SystemExit(f"mkHfModelBundle: patchTokenizer: {where}{result.refused[0].line()}")
        for name, content in result.files.items():
            write_json_atomically(os.path.join(base, name), compat.render(content))
            patched.append(os.path.join(rel_dir, name))
        applied += result.applied
    return patched, applied


def load_compat(shim_src):
    """The runtime's own pure translation (sglang_runtime/model/compat.py), so the bundle and the shadow never disagree."""
    sys.path.insert(0, shim_src)
    from sglang_runtime.model import compat

    return compat


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
        patched, applied = translate_dirs(snapshot, load_compat(spec["shimSrc"]))
        for rel in patched:
            print(f"mkHfModelBundle: patched {rel}")
        for line in applied:
            print(f"mkHfModelBundle: {line}")

    os.makedirs(os.path.join(repo_dir, "refs"), exist_ok=True)
    # No trailing newline: huggingface_hub writes refs the same way.
    with open(os.path.join(repo_dir, "refs", "main"), "w", encoding="utf-8") as fh:
        fh.write(spec["revision"])


if __name__ == "__main__":
    build(json.loads(os.environ["bundleSpec"]), os.environ["out"])
