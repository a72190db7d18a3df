# Shared by scripts/test and scripts/demo: make sure uv and the locked environment exist.
# Needs only Python >= 3.11 and the package registries.

say() { printf '\033[1;36m==>\033[0m %s\n' "$*" >&2; }

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return; fi
  export PATH="$HOME/.local/bin:${XDG_CACHE_HOME:-$HOME/.cache}/vproc/bootstrap/bin:$PATH"
  if command -v uv >/dev/null 2>&1; then return; fi
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "vproc needs Python >= 3.11 (python3 is $(python3 --version 2>&1))" >&2
    exit 1
  }
  say "installing uv"
  # A user install where pip allows it; otherwise (inside a virtualenv, or a distribution
  # that forbids user installs) a private virtualenv that holds only uv.
  if ! python3 -m pip install --quiet --user uv 2>/dev/null; then
    local venv="${XDG_CACHE_HOME:-$HOME/.cache}/vproc/bootstrap"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet uv
  fi
  command -v uv >/dev/null 2>&1 || { echo "could not install uv" >&2; exit 1; }
}

ensure_env() {
  ensure_uv
  say "syncing the locked Python environment (uv sync --locked)"
  uv sync --locked --quiet
}
