#!/usr/bin/env bash
# Set up everything from nothing (venv, pinned requirements + test tools, Debian packages),
# then lint and run the test suite. Extra arguments go to pytest, e.g. ./run_tests.sh -m "not slow".
set -euo pipefail
cd "$(dirname "$0")"
export IDSD_DEV=1
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
idsd_debian_packages
idsd_python_env
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg IDSD_HEADLESS=1 TQDM_MININTERVAL=10
echo "== ruff"
"$PY" -m ruff check .
echo "== numba cache"
# librosa's numba kernels compiled once here, before two pytest workers could compile them at the
# same time (a race in numba's cache writing that can crash a worker: idsd.features.warm_numba_cache).
"$PY" -c "from idsd.features import warm_numba_cache; warm_numba_cache()"
echo "== pytest"
# Two worker processes by default (IDSD_TEST_WORKERS=0: one process), each test file on one worker
# (module fixtures such as the quick study run once); much of the suite is single-threaded.
exec "$PY" -m pytest -n "${IDSD_TEST_WORKERS:-2}" --dist loadfile "$@"
