# Shared by scripts/test and scripts/demo: make sure uv and the locked environment exist.
# Needs only Python >= 3.11 and the package registries.

say() { printf '\033[1;36m==>\033[0m %s\n' "$*" >&2; }

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return; fi
  export PATH="$HOME/.local/bin:$PATH"
  if command -v uv >/dev/null 2>&1; then return; fi
  say "installing uv (pip install --user uv)"
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv
}

ensure_env() {
  ensure_uv
  say "syncing the locked Python environment (uv sync --locked)"
  uv sync --locked --quiet
}
