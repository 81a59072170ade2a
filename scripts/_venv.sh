# Sourced by the scripts: make .venv with the project installed, pinned by constraints.txt.
#   VENV_EXTRAS=      only what running the gateway needs (scripts/serve, scripts/cluster)
#   VENV_EXTRAS=dev   also the test and benchmark tools (the default: scripts/test, bench)
# Each set has its own stamp and is installed again only when pyproject.toml or
# constraints.txt changed since; the dev set contains the runtime one. The install is
# shown as it goes, one line per package, and kept in .venv/install.log.
#   VENV_INSTALLER=pip  install with pip alone. By default uv (pinned in constraints.txt,
#                       itself installed by pip) installs the same pinned set, bytecode
#                       compiled, in a third of pip's time (README.md); pip takes over if
#                       uv cannot be had or fails.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
extras="${VENV_EXTRAS-dev}"
want=$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)
stamp_dev="$VENV/.installed-dev"
stamp_runtime="$VENV/.installed-runtime"
[ -f "$VENV/.installed" ] && mv "$VENV/.installed" "$stamp_dev" # the one stamp before
have_dev=$(cat "$stamp_dev" 2>/dev/null || true)
have_runtime=$(cat "$stamp_runtime" 2>/dev/null || true)

_venv_progress() {
  # pip's output, summed up: a numbered line per package it collects.
  local n=0 line name
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$VENV/install.log"
    name=""
    case "$line" in
      Collecting\ *) name=${line#Collecting }; name=${name%% *}; name=${name%%[<>=!~;[]*} ;;
      Processing\ /*) name=${line#Processing }; name=${name%% *}; name=${name##*/}; name=${name%%-[0-9]*} ;;
      *Building\ editable*started) printf '    building the gateway itself…\n' >&2 ;;
      Installing\ collected\ packages*) printf '    installing the %d packages…\n' "$n" >&2 ;;
      ERROR:*) printf '%s\n' "$line" >&2 ;;
    esac
    if [ -n "$name" ]; then
      n=$((n + 1))
      printf '    %3d  %s\n' "$n" "$name" >&2
    fi
  done
}

_uv_progress() {
  # uv's output, summed up the same way: a numbered line per package it installs.
  local n=0 line name
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$VENV/install.log"
    case "$line" in
      \ +\ *) name=${line# + }; name=${name%%[=@ ]*}; n=$((n + 1)); printf '    %3d  %s\n' "$n" "$name" >&2 ;;
      error:*) printf '%s\n' "$line" >&2 ;;
    esac
  done
}

_pip_install() {
  "$PY" -m pip install --disable-pip-version-check --progress-bar off \
    -c "$ROOT/constraints.txt" "$@"
}

_install() {
  # uv first (unless told pip), pip after it if uv could not be had or failed
  if [ "${VENV_INSTALLER-uv}" != pip ] &&
    { [ -x "$VENV/bin/uv" ] || _pip_install uv >>"$VENV/install.log" 2>&1; }; then
    # a copy, not a hard link into uv's cache: the cache may be on another disk; the
    # bytecode compiled now, as pip does (where Python may not write it, every start
    # would compile the imports again: twice the start-up)
    if UV_LINK_MODE=copy UV_COMPILE_BYTECODE="${UV_COMPILE_BYTECODE-1}" \
        "$VENV/bin/uv" pip install --python "$PY" \
        -c "$ROOT/constraints.txt" -e "$target" 2>&1 | _uv_progress; then
      return 0
    fi
    echo "==> uv failed, pip takes over; the end of .venv/install.log:" >&2
    tail -n 5 "$VENV/install.log" >&2
  fi
  _pip_install -e "$target" 2>&1 | _venv_progress
}

if [ "$extras" = dev ]; then
  [ "$have_dev" = "$want" ] && current=1 || current=0
  target="$ROOT[dev]"; what="the gateway, its test and benchmark tools"; stamp=$stamp_dev
else
  { [ "$have_dev" = "$want" ] || [ "$have_runtime" = "$want" ]; } && current=1 || current=0
  target="$ROOT"; what="the gateway (what running it needs)"; stamp=$stamp_runtime
fi
if [ ! -x "$PY" ]; then
  echo "==> creating a virtual environment in .venv" >&2
  python3 -m venv "$VENV"
fi
if [ "$current" = 0 ]; then
  echo "==> installing $what, pinned by constraints.txt" >&2
  started=$(date +%s)
  : >"$VENV/install.log"
  if ! _install; then
    echo "==> the installation failed; the end of .venv/install.log:" >&2
    tail -n 25 "$VENV/install.log" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
  echo "==> installed in $(( $(date +%s) - started )) s" >&2
fi
export PATH="$VENV/bin:$PATH"
