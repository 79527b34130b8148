# Sourced by scripts/run and scripts/test (from the project folder): `venv_install [EXTRA]`
# creates .venv on first use and installs the project into it (with the optional dependencies
# EXTRA), and installs again only when pyproject.toml has changed since: its hash is kept in
# .venv/.installed[-EXTRA]. Delete that file (or .venv) to force an install.
venv_install() {
  local extra="${1:-}" stamp want
  stamp=".venv/.installed${extra:+-$extra}"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  . .venv/bin/activate
  want=$(python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing into .venv (first use, or pyproject.toml changed)…" >&2
    python -m pip install -q --upgrade pip >/dev/null
    python -m pip install -q -e ".${extra:+[$extra]}" >/dev/null
    echo "$want" > "$stamp"
  fi
}
