# Sourced by the scripts: make .venv with the project installed, pinned by constraints.txt.
# Re-installs only when pyproject.toml or constraints.txt changed since the last install.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
stamp="$VENV/.installed"
want=$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)
if [ ! -x "$PY" ]; then
  echo "==> creating virtual environment in .venv" >&2
  python3 -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing the gateway and its pinned dependencies" >&2
  "$PY" -m pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
  echo "$want" >"$stamp"
fi
export PATH="$VENV/bin:$PATH"
