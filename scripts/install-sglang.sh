#!/usr/bin/env bash
# Install one real SGLang release into a folder of its own, with just enough
# beside it to import its argument parser (sglang.srt.server_args), its
# environment registry (sglang.srt.environ) and its pinned transformers.
# No GPU and no kernel packages: tests put DEST on PYTHONPATH of the test
# venv, which provides torch/torchvision (tests/requirements.txt).
#
#   scripts/install-sglang.sh VERSION DEST
#
# scripts/sglang-deps-VERSION.txt says how (docs/sglang-test-infra.md):
#  - a plain list of exact pins: DEST holds sglang and all of them (0.5.9, 0.5.23);
#  - a list starting with `base B`: the release is layered. DEST holds only the
#    sglang wheel; each pin gets a shared one-package folder
#    (DEST/../sglang-pins/NAME-VERSION), and the full folder of release B
#    (DEST/../sglang-B, installed first if missing) provides everything else.
#    DEST/.layers lists those folders, relative to DEST, in PYTHONPATH order.
#    Releases share pins and the base, so each costs one wheel, not a
#    dependency tree.
#
# Idempotent: a folder's .complete is written last, and its presence ends the
# work at once. Each folder is built beside its place and renamed into it,
# so an interrupted run never leaves a folder that looks installed. After a
# change to a dependency list, delete the folder to rebuild it.
#
# The folder is proven by importing it before it is marked. SGLANG_INSTALL_CHECK=0
# skips that for a layered release: scripts/test.sh sets it because the test
# session imports every release right after (its first contract test fails,
# naming the folder and the import error), so the check would only pay the
# same seconds-long import twice.
set -euo pipefail

version=${1:?usage: install-sglang.sh VERSION DEST}
dest=${2:?usage: install-sglang.sh VERSION DEST}

[ -e "$dest/.complete" ] && exit 0
# Absolute, because the import check below runs from /.
dest=$(realpath -m -- "$dest")

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
deps="$here/sglang-deps-$version.txt"
python=${SGLANG_INSTALL_PYTHON:-$root/.venv/bin/python}

if [ ! -f "$deps" ]; then
    echo "install-sglang: no dependency list for sglang $version (expected $deps)" >&2
    exit 2
fi
if [ ! -x "$python" ]; then
    echo "install-sglang: no Python at $python (create the test venv first)" >&2
    exit 2
fi

# --no-deps: sglang's own requirements name CUDA kernels and torch builds that
# cannot (and need not) be installed here; the lists are exact, so pip does no
# resolving and a folder is the same on every machine. --no-compile: byte-
# compiling all of sglang doubles the time and adds ~200 MB of .pyc for
# thousands of modules no test imports; the import check below compiles
# the ones that are used.
pip_target() {  # DIR REQUIREMENT...
    local target=$1
    shift
    "$python" -m pip install --quiet --disable-pip-version-check \
        --no-deps --no-compile --only-binary :all: --target "$target" "$@"
}

# Move a finished TMP folder to FINAL. A FINAL without the marker is debris
# from an older, interrupted layout. -T: never move the folder *into* an
# existing FINAL; if a concurrent run won the race, its complete folder is as
# good as ours.
place() {  # TMP FINAL
    local tmp=$1 final=$2
    date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/.complete"
    [ -e "$final" ] && [ ! -e "$final/.complete" ] && rm -rf "$final"
    if ! mv -T "$tmp" "$final" 2>/dev/null; then
        [ -e "$final/.complete" ] || { echo "install-sglang: cannot move $tmp to $final" >&2; exit 1; }
        rm -rf "$tmp"
    fi
}

pins=$(grep -vE '^[[:space:]]*(#|$|base[[:space:]])' "$deps" || true)
base=$(sed -n 's/^base[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$deps")
layers=()
if [ -n "$base" ]; then
    parent=$(dirname "$dest")
    bash "$0" "$base" "$parent/sglang-$base"
    for pin in $pins; do
        folder="$parent/sglang-pins/${pin%%==*}-${pin#*==}"
        if [ ! -e "$folder/.complete" ]; then
            mkdir -p "$parent/sglang-pins"
            pin_tmp=$(mktemp -d "$folder.partial.XXXXXX")
            chmod 0755 "$pin_tmp"
            pip_target "$pin_tmp" "$pin" || { rm -rf "$pin_tmp"; exit 1; }
            place "$pin_tmp" "$folder"
        fi
        layers+=("../sglang-pins/${pin%%==*}-${pin#*==}")
    done
    layers+=("../sglang-$base")
fi

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$dest.partial.XXXXXX")
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

if [ -n "$base" ]; then
    pip_target "$tmp" "sglang==$version"
    printf '%s\n' "${layers[@]}" > "$tmp/.layers"
else
    pip_target "$tmp" "sglang==$version" -r "$deps"
fi

# PYTHONPATH as the tests build it: the folder, then its layers.
pythonpath=$tmp
for layer in "${layers[@]}"; do
    pythonpath="$pythonpath:$tmp/$layer"
done

# Prove the folder works before marking it: a missing module shows up here,
# named, instead of in some later test. cwd / keeps the repo off sys.path.
if [ -n "$base" ] && [ "${SGLANG_INSTALL_CHECK:-1}" = 0 ]; then
    : # the caller imports it next (see the top)
elif ! (cd / && PYTHONPATH="$pythonpath" "$python" -W ignore -c \
        'import sglang.srt.server_args, sglang.srt.environ, transformers.models.auto.tokenization_auto' \
        >/dev/null 2>"$tmp/.import-error"); then
    echo "install-sglang: sglang $version installed but does not import:" >&2
    tail -n 5 "$tmp/.import-error" >&2
    exit 1
fi
rm -f "$tmp/.import-error"

place "$tmp" "$dest"
trap - EXIT
