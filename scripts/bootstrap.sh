#!/usr/bin/env bash
# Sourced by run_all.sh and run_tests.sh: make sure a Python environment with the pinned
# requirements and the idsd package exists, register the `python3` Jupyter kernel, and install
# the Debian packages the embedded corpus needs when apt-get is usable.
#
# After sourcing, $PY is the interpreter to use. Set IDSD_DEV=1 to also install the test tools
# (Python ones from requirements-dev.txt, and Chromium for the report test).
# IDSD_SKIP_APT=1 skips the Debian step; IDSD_PYTHON picks the interpreter that creates .venv.

IDSD_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IDSD_APT_PACKAGES=(
  espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  festvox-italp16k festvox-itapc16k sox libsox-fmt-all ffmpeg codec2-examples
  asterisk-core-sounds-en asterisk-core-sounds-en-g722 asterisk-core-sounds-es asterisk-core-sounds-es-g722
  asterisk-core-sounds-fr asterisk-core-sounds-fr-g722 asterisk-core-sounds-it asterisk-core-sounds-it-g722
  asterisk-core-sounds-ru asterisk-core-sounds-ru-g722
  fillets-ng-data fillets-ng-data-cs
)
# Test tools, installed with IDSD_DEV=1 only: headless Chromium opens report.html in tests/test_report.py.
IDSD_DEV_APT_PACKAGES=(chromium)

_idsd_log() { printf '[bootstrap] %s\n' "$*" >&2; }

_idsd_req_hash() {  # $1 = 1 to include the test tools
  local files=("$IDSD_REPO/requirements.txt" "$IDSD_REPO/pyproject.toml")
  [ "${1:-0}" = 1 ] && files+=("$IDSD_REPO/requirements-dev.txt" "$IDSD_REPO/requirements-tcn.txt")
  cat "${files[@]}" | sha256sum | cut -c1-16
}

_idsd_env_ok() {
  # An already active environment is "suitable" when it imports idsd from this checkout
  # and has the pinned TensorFlow/Keras/librosa/papermill.
  "$1" - "$IDSD_REPO" "${IDSD_DEV:-0}" <<'PY' >/dev/null 2>&1
import sys, pathlib, importlib.metadata as md
import idsd
assert pathlib.Path(idsd.__file__).resolve().parents[1] == pathlib.Path(sys.argv[1]).resolve()
pins = {}
for line in open(pathlib.Path(sys.argv[1]) / "requirements.txt"):
    line = line.split("#")[0].strip()
    if "==" in line:
        name, ver = line.split("==")
        pins[name.lower()] = ver
for name in ("tensorflow-cpu", "keras", "librosa", "papermill"):
    assert md.version(name) == pins[name], name
if sys.argv[2] == "1":
    import pytest, ruff, tcn, tf_keras  # noqa: F401  (the test tools and references)
PY
}

idsd_python_env() {
  local venv="$IDSD_REPO/.venv" stamp hash
  local active
  active="$(command -v python || true)"
  # An activated venv or conda env that already has the pins and this checkout's idsd is used as is.
  if [ -n "$active" ] && [ "$(dirname "$active")" != "$venv/bin" ] && _idsd_env_ok "$active"; then
    PY="$active"
    _idsd_log "using the active environment ($(dirname "$(dirname "$active")"))"
  else
    PY="$venv/bin/python"
    # A stamp per requirement set: the runtime set is satisfied by a dev install too.
    hash="$(_idsd_req_hash "${IDSD_DEV:-0}")"
    stamp="$venv/.idsd-installed-$hash"
    if [ ! -f "$stamp" ]; then
      if [ ! -x "$PY" ]; then
        _idsd_log "creating $venv"
        "${IDSD_PYTHON:-python3}" -m venv "$venv"
      fi
      _idsd_log "installing the pinned requirements (first run: a few minutes, ~2.5 GB)"
      "$PY" -m pip install -q --disable-pip-version-check --upgrade pip "setuptools==80.9.0" wheel 2> >(grep -v 'is ignored' >&2)
      local req="$IDSD_REPO/requirements.txt"
      [ "${IDSD_DEV:-0}" = 1 ] && req="$IDSD_REPO/requirements-dev.txt"
      "$PY" -m pip install -q --disable-pip-version-check -r "$req" 2> >(grep -v 'is ignored' >&2)
      if [ "${IDSD_DEV:-0}" = 1 ]; then
        # keras-tcn and tf-keras (the authors' TCN layer and Keras 2, the test references of
        # tests/test_model.py and tests/test_upstream.py) declare a dependency on the full
        # tensorflow wheel; --no-deps keeps a single TensorFlow (tensorflow-cpu).
        "$PY" -m pip install -q --disable-pip-version-check --no-deps -r "$IDSD_REPO/requirements-tcn.txt" 2> >(grep -v 'is ignored' >&2)
      fi
      "$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$IDSD_REPO" 2> >(grep -v 'is ignored' >&2)
      rm -f "$venv"/.idsd-installed-*
      touch "$venv/.idsd-installed-$(_idsd_req_hash 0)"
      [ "${IDSD_DEV:-0}" = 1 ] && touch "$venv/.idsd-installed-$(_idsd_req_hash 1)"
    fi
    export VIRTUAL_ENV="$venv"
    export PATH="$venv/bin:$PATH"
  fi
  # The python3 kernel papermill and JupyterLab use: this environment's interpreter.
  "$PY" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (idsd)" >/dev/null 2>&1 \
    || _idsd_log "warning: could not register the python3 Jupyter kernel"
}

idsd_debian_packages() {
  [ "${IDSD_SKIP_APT:-0}" = 1 ] && return 0
  local missing=() p wanted=("${IDSD_APT_PACKAGES[@]}")
  [ "${IDSD_DEV:-0}" = 1 ] && wanted+=("${IDSD_DEV_APT_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    # "install ok installed" only: a removed package keeps a dpkg record ("deinstall ok
    # config-files") that `dpkg -s` still answers with success.
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  fi
  if command -v apt-get >/dev/null 2>&1 && [ "$SUDO" != "none" ]; then
    _idsd_log "installing Debian packages (embedded corpus, test tools with IDSD_DEV=1): ${missing[*]}"
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    _idsd_log "the embedded corpus (and, with IDSD_DEV=1, the tests) need these Debian/Ubuntu packages, which are missing:"
    _idsd_log "  sudo apt-get install --no-install-recommends ${missing[*]}"
    _idsd_log "(without them the corpus builder uses whatever engines it finds, or point --data at real corpora)"
  fi
}
