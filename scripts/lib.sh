# shellcheck shell=bash
# Shared set-up for scripts/test and scripts/demo. Source it; do not run it.
# Everything here is idempotent and fast when the work is already done, and never prompts.

set -euo pipefail

OSTIARY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$OSTIARY_ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$OSTIARY_ROOT/.venv"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1  # tests drive the system /usr/bin/chromium, never a download

say() { printf '\n==> %s\n' "$*"; }

# Prints the packages among "$@" that dpkg does not report as installed.
missing_debs() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$pkg"
  done
}

# ensure_debs PKG...: apt-get install whatever is missing (one `apt-get update`, only if needed).
ensure_debs() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "warning: not a Debian-like system; make sure these are installed: $*" >&2
    return 0
  fi
  local missing
  missing="$(missing_debs "$@")"
  [ -z "$missing" ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: $missing" >&2; return 1; }
    sudo=(sudo -n)  # -n: fail instead of waiting for a password
  fi
  say "apt-get install $missing"
  local apt_opts=(-q -o DPkg::Lock::Timeout=300)
  "${sudo[@]}" apt-get "${apt_opts[@]}" update
  # shellcheck disable=SC2086  # $missing is a list of words
  "${sudo[@]}" apt-get "${apt_opts[@]}" install -y $missing </dev/null
}

# ensure_venv: create .venv if it is absent or broken (Debian's python3 needs python3-venv for it).
ensure_venv() {
  [ -x "$VENV/bin/python" ] && return 0
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    ensure_debs python3-venv
  fi
  say "create $VENV"
  "$PYTHON" -m venv "$VENV"
}

# ensure_installed SPEC NAME: `pip install -e SPEC`, skipped when pyproject.toml (and SPEC) are unchanged
# since the last successful install; the stamp lives inside the venv so a fresh venv reinstalls.
ensure_installed() {
  local spec="$1" name="$2" stamp digest
  stamp="$VENV/.ostiary-install-$name.sha256"
  digest="$({ printf '%s\n' "$spec"; cat pyproject.toml; } | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
    return 0
  fi
  say "pip install -e '$spec'"
  "$VENV/bin/python" -m pip install -q -e "$spec"
  printf '%s\n' "$digest" >"$stamp"
}
