#!/usr/bin/env bash
# Regenerate the whole study: set up the environment if needed, then execute the numbered
# notebooks in order with papermill. Executed notebooks and logs land in <outputs>/notebooks/.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
Usage: ./run_all.sh [options]

Runs notebooks/NN_*.ipynb in order with papermill (after setting up .venv if no suitable
environment is active). Stops at the first failing notebook and names it.

Options:
  --quick          smoke scale: tiny corpus, few epochs; writes to outputs/quick/
  --only LIST      run only these stages, e.g. --only 03 or --only 01,02
  --from NN        start at stage NN (earlier outputs are reused)
  --data ROOT      use real corpora under ROOT instead of the embedded suite (see README)
  --full-grid      train the paper's whole grid (7 representations x every training corpus, the
                   learning curve on 7 x 10 subsets) instead of the CPU budget grid of the
                   embedded study (7 x mini-for, mini-asvspoof; learning curve mfcc x 5)
  --gpu            train on the GPU: KERAS_BACKEND=jax unless KERAS_BACKEND is already set
  --outputs DIR    outputs directory (default outputs, or outputs/quick with --quick)
  --force          re-run stages even if their inputs did not change
  --list           list the stages and exit
  --tests          run the test suite instead (same as ./run_tests.sh)
  -h, --help       this help
USAGE
}

QUICK=False ONLY="" FROM="" DATA="" OUTDIR="" FORCE=0 LIST=0 GRID=default
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=True ;;
    --only) ONLY="${2:?--only needs a list}"; shift ;;
    --from) FROM="${2:?--from needs a stage number}"; shift ;;
    --data) DATA="${2:?--data needs a folder}"; shift ;;
    --full-grid) GRID=full ;;
    --gpu) export KERAS_BACKEND="${KERAS_BACKEND:-jax}"; export IDSD_DEVICE=gpu ;;
    --outputs) OUTDIR="${2:?--outputs needs a folder}"; shift ;;
    --force) FORCE=1 ;;
    --list) LIST=1 ;;
    --tests) shift; exec ./run_tests.sh "$@" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# IDSD_NOTEBOOKS points at another notebook folder (the tests use it).
NB_DIR="${IDSD_NOTEBOOKS:-notebooks}"
mapfile -t NOTEBOOKS < <(ls "$NB_DIR"/[0-9][0-9]_*.ipynb 2>/dev/null | sort)
if [ "$LIST" = 1 ]; then
  for nb in "${NOTEBOOKS[@]}"; do basename "$nb" .ipynb; done
  exit 0
fi
[ ${#NOTEBOOKS[@]} -gt 0 ] || { echo "run_all.sh: no $NB_DIR/NN_*.ipynb found" >&2; exit 1; }

if [ -z "$OUTDIR" ]; then
  if [ "$QUICK" = True ]; then OUTDIR=outputs/quick; else OUTDIR=outputs; fi
fi

# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
idsd_debian_packages
idsd_python_env

# The kernel is a subprocess: everything it must see is exported before it starts.
export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg IDSD_HEADLESS=1 TQDM_MININTERVAL=10
mkdir -p "$OUTDIR/notebooks/logs"
STATE="$OUTDIR/notebooks/.stage-hashes"
touch "$STATE"

selected() {  # $1 = stage number
  local n="$1" s
  if [ -n "$ONLY" ]; then
    for s in ${ONLY//,/ }; do [ "$((10#$s))" -eq "$((10#$n))" ] && return 0; done
    return 1
  fi
  if [ -n "$FROM" ] && [ "$((10#$n))" -lt "$((10#$FROM))" ]; then return 1; fi
  return 0
}

# A stage is skipped when its notebook, the package, the parameters and every earlier stage's
# result are unchanged since its last successful run (content hashes), so an interrupted run
# resumes where it stopped.
stage_hash() {  # $1 = notebook
  { cat "$1"; find idsd -name '*.py' -print0 | sort -z | xargs -0 cat; cat requirements.txt
    echo "$QUICK|$DATA|$GRID|${KERAS_BACKEND:-}|$PREV_HASH"; } | sha256sum | cut -c1-16
}

START=$(date +%s)
# Which code produced these outputs (the published results say it).
COMMIT="$(git rev-parse HEAD 2>/dev/null || true)"
DIRTY=false
[ -n "$COMMIT" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && DIRTY=true
printf '{"commit": "%s", "dirty": %s, "started": "%s", "quick": %s}\n' "$COMMIT" "$DIRTY" \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$( [ "$QUICK" = True ] && echo true || echo false )" > "$OUTDIR/notebooks/run.json"
PREV_HASH=""
for nb in "${NOTEBOOKS[@]}"; do
  name="$(basename "$nb" .ipynb)"
  stage="${name%%_*}"
  h="$(stage_hash "$nb")"
  PREV_HASH="$h"
  selected "$stage" || continue
  if [ "$FORCE" = 0 ] && grep -qx "$name $h" "$STATE" && [ -f "$OUTDIR/notebooks/$name.ipynb" ]; then
    echo "== $name: inputs unchanged since its last successful run, skipped (--force re-runs it)"
    continue
  fi
  echo "== $name ($(date +%H:%M:%S))"
  args=(-k python3 -p quick "$QUICK" -p outputs_dir "$OUTDIR" --log-output --no-progress-bar)
  [ -n "$DATA" ] && args+=(-p data_root "$DATA")
  # only the training notebooks have a grid parameter
  grep -q '"grid: str' "$nb" && args+=(-p grid "$GRID")
  t0=$(date +%s)
  if ! "$PY" -m idsd.stage "$nb" "$OUTDIR/notebooks/$name.ipynb" "$OUTDIR/notebooks/logs/$name.log" \
        "$OUTDIR/notebooks/timings.csv" -- "${args[@]}"; then
    tail -n 40 "$OUTDIR/notebooks/logs/$name.log" >&2
    echo "run_all.sh: notebook $nb failed; see $OUTDIR/notebooks/$name.ipynb and $OUTDIR/notebooks/logs/$name.log" >&2
    exit 1
  fi
  grep -v "^$name " "$STATE" > "$STATE.tmp" || true
  echo "$name $h" >> "$STATE.tmp" && mv "$STATE.tmp" "$STATE"
  echo "   done in $(( $(date +%s) - t0 )) s"
done
echo "== all stages done in $(( $(date +%s) - START )) s; outputs in $OUTDIR/ (stage timings: $OUTDIR/notebooks/timings.csv)"
# A complete default run publishes its results into the README (docs/results/ + the results block).
if [ "$QUICK" = False ] && [ -z "$ONLY$FROM$DATA" ] && [ "$GRID" = default ] && [ "$OUTDIR" = outputs ]; then
  "$PY" -m idsd.readme "$OUTDIR"
fi
