#!/usr/bin/env bash
# The project's one test command (the README names it; .ci/run calls it).
# Installs what the tests need — Debian packages, a venv with the runtime and
# test requirements, one folder per SGLang release for the contract tests —
# then runs the whole suite. Safe to re-run: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[test.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

missing=()
while read -r pkg; do
  case "$pkg" in ''|'#'*) continue ;; esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done < tests/apt-packages.txt
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python="${TEST_PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $python"
  "$python" -m venv .venv
fi
stamp=".venv/.requirements-$(cat tests/requirements.txt runtime/pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  log "pip install -e runtime -r tests/requirements.txt"
  .venv/bin/pip install -q --disable-pip-version-check -e runtime -r tests/requirements.txt
  touch "$stamp"
fi

# Every SGLang release with a dependency list (the contract-test matrix). The two
# standalone folders first; the layered releases (one wheel each over shared pin
# folders and the 0.5.23 folder) two at a time, without the install-time import
# check: the contract tests import each release once anyway and fail naming it.
release_of() { sed 's/.*sglang-deps-\(.*\)\.txt/\1/' | sort -V; }
standalone=$(grep -L '^base ' scripts/sglang-deps-*.txt | release_of)
layered=$(grep -l '^base ' scripts/sglang-deps-*.txt | release_of)
start=$(date +%s)
# A release's parser folder and its serving folder; the pip downloads are network-bound, so the
# standalone releases install side by side (the layered ones need the 0.5.23 folder first).
install_standalone() {
  bash scripts/install-sglang.sh "$1" ".cache/sglang-$1"
  # What a real server needs on the CPU beyond the parser (the real-server tier, tests/e2e).
  log "serving packages for sglang $1"
  bash scripts/install-serving.sh "$1" ".cache/serve-$1"
}
pids=()
for version in $standalone; do
  install_standalone "$version" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done
if [ -n "$layered" ]; then
  printf '%s\n' $layered | SGLANG_INSTALL_CHECK=0 xargs -P 2 -I{} bash scripts/install-sglang.sh {} .cache/sglang-{}
fi
log "SGLang releases ready ($(echo $standalone $layered | wc -w)) after $(( $(date +%s) - start )) s"

log "pytest"
exec .venv/bin/python -m pytest tests "$@"
