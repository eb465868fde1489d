#!/usr/bin/env bash
# Create the isolated environment for the peer tool pymsprog 1.0.7 (it pins numpy < 2,
# so it must never enter the project's .venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv-pymsprog/bin/python" ]; then
  python3 -m venv "$here/.venv-pymsprog"
  "$here/.venv-pymsprog/bin/pip" install -q "pymsprog==1.0.7"
fi
echo "$here/.venv-pymsprog/bin/python"
