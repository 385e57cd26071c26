#!/usr/bin/env bash
# Run a command inside ./.venv, creating it (python3 -m venv + pip install -r requirements.txt)
# when it is missing or requirements.txt changed since it was made.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up ./.venv (pip install -r requirements.txt, about a minute) ..." >&2
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
exec "$@"
