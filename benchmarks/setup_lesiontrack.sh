#!/usr/bin/env bash
# Create the isolated environment for the peer tool lesiontrack 0.2.0, used by
# bench_sel.py for a side-by-side comparison. It never enters the project's .venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$here/.venv-lesiontrack/bin/python" ]; then
  python3 -m venv "$here/.venv-lesiontrack"
  "$here/.venv-lesiontrack/bin/pip" install -q "lesiontrack==0.2.0"
fi
echo "$here/.venv-lesiontrack/bin/python"
