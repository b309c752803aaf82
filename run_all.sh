#!/usr/bin/env bash
# Regenerate the whole study: set up the environment if needed, then execute the numbered
# notebooks in order with papermill, each with the study configuration (configs/*.yaml).
# Everything it writes lands under the outputs directory (executed notebooks and logs in
# <outputs>/notebooks/); ./run_all.sh --publish copies the results into README.md and docs/results/.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
Usage: ./run_all.sh [options]
       ./run_all.sh --publish [--outputs DIR]

Runs notebooks/NN_*.ipynb in order with papermill (after setting up .venv if no suitable
environment is active), passing every notebook the study configuration (papermill -f FILE).
Stops at the first failing notebook and names it. Writes only under the outputs directory.

Options:
  --config FILE    study configuration, a flat YAML mapping of notebook parameters
                   (default configs/default.yaml; see configs/)
  --quick          smoke scale: --config configs/quick.yaml (tiny corpus, 2 epochs), outputs/quick/
  --only LIST      run only these stages, e.g. --only 03 or --only 01,02
  --from NN        start at stage NN (earlier outputs are reused)
  --data ROOT      use real corpora under ROOT instead of the embedded suite (notebook 01's
                   data_root; see README)
  --full-grid      train the paper's whole grid (7 representations x every training corpus, the
                   learning curve on 7 x 10 subsets) instead of the CPU budget grid of the
                   embedded study (7 x mini-for, mini-asvspoof; learning curve mfcc x 5)
  --profile NAME   training profile of notebooks 03 and 06: paper | cpu | quick (default: the
                   configuration's; paper with --data --gpu and no --config)
  --gpu            train on the GPU: KERAS_BACKEND=jax unless KERAS_BACKEND is already set
  --outputs DIR    outputs directory (default outputs, or outputs/quick with --quick)
  --force          re-run stages even if their inputs did not change
  --list           list the stages and exit
  --publish        only publish the results of a finished run (python -m idsd.readme DIR): the
                   README's results block and docs/results/; runs no notebook
  --tests          run the test suite instead (same as ./run_tests.sh)
  -h, --help       this help
USAGE
}

CONFIG="" QUICK=0 ONLY="" FROM="" DATA="" OUTDIR="" FORCE=0 LIST=0 GRID="" PROFILE="" PUBLISH=0 RUN_OPTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --config) CONFIG="${2:?--config needs a file}"; shift; RUN_OPTS+=" --config" ;;
    --quick) QUICK=1; RUN_OPTS+=" --quick" ;;
    --only) ONLY="${2:?--only needs a list}"; shift; RUN_OPTS+=" --only" ;;
    --from) FROM="${2:?--from needs a stage number}"; shift; RUN_OPTS+=" --from" ;;
    --data) DATA="${2:?--data needs a folder}"; shift; RUN_OPTS+=" --data" ;;
    --full-grid) GRID=full; RUN_OPTS+=" --full-grid" ;;
    --profile) PROFILE="${2:?--profile needs a name}"; shift; RUN_OPTS+=" --profile"
      case "$PROFILE" in paper|cpu|quick) ;; *) echo "run_all.sh: unknown profile '$PROFILE' (paper, cpu or quick)" >&2; exit 2 ;; esac ;;
    --gpu) export KERAS_BACKEND="${KERAS_BACKEND:-jax}"; export IDSD_DEVICE=gpu; RUN_OPTS+=" --gpu" ;;
    --outputs) OUTDIR="${2:?--outputs needs a folder}"; shift ;;
    --force) FORCE=1; RUN_OPTS+=" --force" ;;
    --list) LIST=1 ;;
    --publish) PUBLISH=1 ;;
    --tests) shift; exec ./run_tests.sh "$@" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$PUBLISH" = 1 ]; then
  [ -z "$RUN_OPTS" ] || { echo "run_all.sh: --publish takes only --outputs DIR (it runs no notebook; got$RUN_OPTS)" >&2; exit 2; }
  # shellcheck source=scripts/bootstrap.sh
  source scripts/bootstrap.sh
  idsd_python_env
  exec "$PY" -m idsd.readme "${OUTDIR:-outputs}"
fi

if [ "$QUICK" = 1 ]; then
  [ -z "$CONFIG" ] || { echo "run_all.sh: --quick means --config configs/quick.yaml; give one of them" >&2; exit 2; }
  CONFIG=configs/quick.yaml
fi
# Real corpora on a GPU get the paper's training protocol unless a profile was chosen (on the
# command line or in a configuration of one's own); the default configuration's cpu profile is
# the budget of the embedded study on a 2-core CPU.
if [ -n "$DATA" ] && [ "${IDSD_DEVICE:-}" = gpu ] && [ -z "$PROFILE" ] && [ -z "$CONFIG" ]; then
  PROFILE=paper
  echo "== --data with --gpu: training profile paper (the paper's protocol; --profile cpu|quick to change)"
fi
CONFIG="${CONFIG:-configs/default.yaml}"

# IDSD_NOTEBOOKS points at another notebook folder (the tests use it).
NB_DIR="${IDSD_NOTEBOOKS:-notebooks}"
mapfile -t NOTEBOOKS < <(ls "$NB_DIR"/[0-9][0-9]_*.ipynb 2>/dev/null | sort)
if [ "$LIST" = 1 ]; then
  for nb in "${NOTEBOOKS[@]}"; do basename "$nb" .ipynb; done
  exit 0
fi
[ ${#NOTEBOOKS[@]} -gt 0 ] || { echo "run_all.sh: no $NB_DIR/NN_*.ipynb found" >&2; exit 1; }
[ -f "$CONFIG" ] || { echo "run_all.sh: configuration $CONFIG not found (see configs/)" >&2; exit 2; }

if [ -z "$OUTDIR" ]; then
  if [ "$QUICK" = 1 ]; then OUTDIR=outputs/quick; else OUTDIR=outputs; fi
fi

# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
idsd_debian_packages
idsd_python_env

# A key that no notebook declares is a typo: stop before running anything.
"$PY" -m idsd.stage check-config "$CONFIG" "${NOTEBOOKS[@]}" || exit 2

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

START=$(date +%s)
# Which code and which configuration produced these outputs (the published results say it).
COMMIT="$(git rev-parse HEAD 2>/dev/null || true)"
DIRTY=false
[ -n "$COMMIT" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && DIRTY=true
"$PY" -m idsd.stage record "$OUTDIR/notebooks/run.json" --config "$CONFIG" --commit "$COMMIT" --dirty "$DIRTY"

# A stage is skipped when its stage hash is the one of its last successful run: the hash covers the
# notebook, the values of its parameters (configuration + command line), the package modules it
# imports (transitively) with requirements.txt, KERAS_BACKEND and the previous stage's hash
# (python -m idsd.stage hash), so an interrupted run resumes where it stopped.
PREV_HASH=""
for nb in "${NOTEBOOKS[@]}"; do
  name="$(basename "$nb" .ipynb)"
  stage="${name%%_*}"
  mapfile -t params < <("$PY" -m idsd.stage params "$nb")
  sets=()  # command-line parameters, each for the notebooks that declare it
  for p in "${params[@]}"; do
    case "$p" in
      data_root) [ -n "$DATA" ] && sets+=("data_root=$DATA") ;;
      grid) [ -n "$GRID" ] && sets+=("grid=$GRID") ;;
      profile) [ -n "$PROFILE" ] && sets+=("profile=$PROFILE") ;;
    esac
  done
  h="$("$PY" -m idsd.stage hash "$nb" --previous "$PREV_HASH" --config "$CONFIG" --env KERAS_BACKEND \
        "${sets[@]/#/--set=}")"
  PREV_HASH="$h"
  selected "$stage" || continue
  if [ "$FORCE" = 0 ] && grep -qx "$name $h" "$STATE" && [ -f "$OUTDIR/notebooks/$name.ipynb" ]; then
    echo "== $name: inputs unchanged since its last successful run, skipped (--force re-runs it)"
    continue
  fi
  echo "== $name ($(date +%H:%M:%S))"
  args=(-k python3 -f "$CONFIG" -r outputs_dir "$OUTDIR" --log-output --no-progress-bar)
  for kv in "${sets[@]}"; do args+=(-r "${kv%%=*}" "${kv#*=}"); done
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
# The one-file report (results, figures, timings) of whatever the outputs hold, also when every stage
# was skipped; a run that has not reached notebook 07 yet (--only 01 on new outputs) has no results.md.
if [ -f "$OUTDIR/tables/results.md" ]; then
  "$PY" -m idsd.report "$OUTDIR" >/dev/null \
    || { echo "run_all.sh: building the report $OUTDIR/report.html failed (python -m idsd.report $OUTDIR; see above)" >&2; exit 1; }
  echo "== report: $OUTDIR/report.html"
else
  echo "== no report: $OUTDIR/tables/results.md not written yet (notebook 07 writes it)"
fi
echo "== all stages done in $(( $(date +%s) - START )) s; outputs in $OUTDIR/ (stage timings: $OUTDIR/notebooks/timings.csv)"
publish="./run_all.sh --publish"
[ "$OUTDIR" = outputs ] || publish+=" --outputs $OUTDIR"
echo "   to publish these results into README.md and docs/results/: $publish"
