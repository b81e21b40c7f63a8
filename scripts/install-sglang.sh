#!/usr/bin/env bash
# Install one real SGLang release into a folder of its own, with just enough
# beside it to import its argument parser (sglang.srt.server_args), its
# environment registry (sglang.srt.environ) and its pinned transformers.
# No GPU and no kernel packages: tests put DEST on PYTHONPATH of the test
# venv, which provides torch/torchvision (tests/requirements.txt).
#
#   scripts/install-sglang.sh VERSION DEST
#
# Idempotent: DEST/.complete is written last, and its presence ends the
# script at once. The folder is built beside DEST and renamed into place, so
# an interrupted run never leaves a DEST that looks installed.
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

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$dest.partial.XXXXXX")
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

# --no-deps: sglang's own requirements name CUDA kernels and torch builds that
# cannot (and need not) be installed here; the list is exact, so pip does no
# resolving and the folder is the same on every machine. --no-compile: byte-
# compiling all of sglang doubles the time and adds ~200 MB of .pyc for
# thousands of modules no test imports; the import check below compiles
# the ones that are used.
"$python" -m pip install --quiet --disable-pip-version-check \
    --no-deps --no-compile --only-binary :all: --target "$tmp" \
    "sglang==$version" -r "$deps"

# Prove the folder works before marking it: a missing module shows up here,
# named, instead of in some later test. cwd / keeps the repo off sys.path.
if ! (cd / && PYTHONPATH="$tmp" "$python" -W ignore -c \
        'import sglang.srt.server_args, sglang.srt.environ, transformers.models.auto.tokenization_auto' \
        >/dev/null 2>"$tmp/.import-error"); then
    echo "install-sglang: sglang $version installed but does not import:" >&2
    tail -n 5 "$tmp/.import-error" >&2
    exit 1
fi
rm -f "$tmp/.import-error"

date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/.complete"
# A DEST without the marker is debris from an older, interrupted layout.
[ -e "$dest" ] && [ ! -e "$dest/.complete" ] && rm -rf "$dest"
# -T: never move the folder *into* an existing DEST; if a concurrent run won
# the race, its complete folder is as good as ours.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
    [ -e "$dest/.complete" ] || { echo "install-sglang: cannot move $tmp to $dest" >&2; exit 1; }
fi
trap - EXIT
rm -rf "$tmp"
