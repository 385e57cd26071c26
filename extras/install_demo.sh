#!/usr/bin/env bash
# Install what the demo page (demo.py) and its browser test (tests/test_demo.py) need, when missing:
# Debian's chromium (apt-get) and requirements-demo.txt (gradio, playwright) into ./.venv. Idempotent:
# a second run checks and returns in a second or two. Uses no browser download (never `playwright install`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (apt-get) ..." >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium
fi
if [ ! -x .venv/bin/python ]; then
  extras/with_venv.sh true   # creates ./.venv from requirements.txt
fi
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, sys.argv[1:])))" \
    gradio playwright; then
  echo "installing requirements-demo.txt into ./.venv ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-demo.txt
fi
