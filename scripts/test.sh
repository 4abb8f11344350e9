#!/usr/bin/env bash
# Install everything (Chromium included, for the review-screen tests) and run the test suite.
# As root, the suite runs with networking cut (`unshare -n`, loopback only): proof that no
# model hub, telemetry endpoint or other host is contacted. Extra arguments go to pytest.
# install.sh installs redis-server and PostgreSQL; tests/test_celery.py and
# tests/test_store_postgres.py start their own servers on loopback/free ports (no service).
set -euo pipefail
cd "$(dirname "$0")/.."
MSW_WITH_BROWSER=1 bash scripts/install.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  echo "test.sh: running the suite with networking cut (unshare -n; loopback only)"
  exec unshare -n sh -c 'ip link set lo up && exec .venv/bin/python -m pytest "$@"' sh "$@"
fi
echo "test.sh: not root, so the network stays up; CI runs this as root with it cut"
exec .venv/bin/python -m pytest "$@"
