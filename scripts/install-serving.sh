#!/usr/bin/env bash
# Install what a REAL sglang==VERSION server needs on the CPU beyond the parser folder
# (.cache/sglang-VERSION, scripts/install-sglang.sh): the exact pins in
# scripts/sglang-serve-deps-VERSION.txt, into a folder of their own. A server then runs as
#   PYTHONPATH=cpu/standin:.cache/sglang-VERSION:DEST  <venv python with torch> -m sglang.launch_server ...
# (cpu/standin is the named stand-in for sgl_kernel). Like the Flox hook's PYTHONPATH over
# the Nix closure, one interpreter with torch serves every release.
#
#   scripts/install-serving.sh VERSION DEST
#
# Idempotent and atomic, as install-sglang.sh: built beside DEST, checked, marked, renamed.
set -euo pipefail

version=${1:?usage: install-serving.sh VERSION DEST}
dest=${2:?usage: install-serving.sh VERSION DEST}
[ -e "$dest/.complete" ] && exit 0
dest=$(realpath -m -- "$dest")

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
deps="$here/sglang-serve-deps-$version.txt"
python=${SGLANG_INSTALL_PYTHON:-$root/.venv/bin/python}
parser_dir=${SGLANG_PARSER_DIR:-$root/.cache/sglang-$version}

[ -f "$deps" ] || { echo "install-serving: no list for sglang $version (expected $deps)" >&2; exit 2; }
[ -x "$python" ] || { echo "install-serving: no Python at $python (create the venv first)" >&2; exit 2; }
[ -e "$parser_dir/.complete" ] || { echo "install-serving: $parser_dir is not installed (scripts/install-sglang.sh $version $parser_dir)" >&2; exit 2; }

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$dest.partial.XXXXXX")
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

"$python" -m pip install --quiet --disable-pip-version-check \
    --no-deps --no-compile --only-binary :all: --target "$tmp" -r "$deps"

# The modules a text-only server imports on the CPU path: a miss shows here, named.
if ! (cd / && PYTHONPATH="$root/cpu/standin:$parser_dir:$tmp" SGLANG_USE_CPU_ENGINE=1 "$python" -W ignore -c \
        'import sglang.srt.entrypoints.http_server, sglang.srt.managers.scheduler, sglang.srt.models.llama' \
        >/dev/null 2>"$tmp/.import-error"); then
    echo "install-serving: sglang $version serving packages installed but do not import:" >&2
    tail -n 5 "$tmp/.import-error" >&2
    exit 1
fi
rm -f "$tmp/.import-error"

date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/.complete"
[ -e "$dest" ] && [ ! -e "$dest/.complete" ] && rm -rf "$dest"
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
    [ -e "$dest/.complete" ] || { echo "install-serving: cannot move $tmp to $dest" >&2; exit 1; }
fi
trap - EXIT
rm -rf "$tmp"
