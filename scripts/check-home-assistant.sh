#!/usr/bin/env bash
# A real Home Assistant core against the gateway's discovery: what HA really shows.
#   scripts/check-home-assistant.sh                       # Home Assistant 2025.4.4
#   HA_VERSION=2024.3.3 scripts/check-home-assistant.sh   # another release
#   scripts/check-home-assistant.sh --keep /tmp/ha-check  # keep the logs
# The first run of a version makes its virtualenv in .hass/<version> (git-ignored; a few
# minutes, then reused). PYTHON is the project's Python (default .venv/bin/python);
# HA_PYTHON the one for Home Assistant (default: 3.13, or 3.12 for a 2024 release).
# docs/deploy.md ("Home Assistant") says what is checked.
set -euo pipefail
cd "$(dirname "$0")/.."

HA_VERSION=${HA_VERSION:-2025.4.4}
PYTHON=${PYTHON:-.venv/bin/python}
venv=.hass/$HA_VERSION

find_python() {  # the first python$1 on PATH or under pyenv that has ssl
    local p
    for p in $(command -v "python$1" || true) "$HOME"/.pyenv/versions/"$1"*/bin/"python$1"; do
        if [ -x "$p" ] && "$p" -c 'import ssl, venv' 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

if [ ! -x "$venv/bin/hass" ]; then
    case "$HA_VERSION" in 2024.*) wanted=3.12 ;; *) wanted=3.13 ;; esac
    ha_python=${HA_PYTHON:-$(find_python "$wanted")}
    if [ -z "$ha_python" ]; then
        echo "Home Assistant $HA_VERSION needs Python $wanted: none found (set HA_PYTHON)" >&2
        exit 2
    fi
    echo "making $venv with $ha_python (once; a few minutes)" >&2
    "$ha_python" -m venv "$venv"
    "$venv/bin/pip" install -q "homeassistant==$HA_VERSION"
    # what the MQTT integration and the frontend (HA will not start without it) require;
    # HA installs anything else it misses on its first start
    mapfile -t needed < <("$venv/bin/python" - <<'PY'
import json
from pathlib import Path

import homeassistant.components as components

for name in ("mqtt", "frontend"):
    manifest = Path(components.__path__[0], name, "manifest.json")
    print("\n".join(json.loads(manifest.read_text())["requirements"]))
PY
)
    case "$HA_VERSION" in
        # their cloud integration's acme predates josepy 2, which pip would pick
        2024.*) needed+=("josepy<2") ;;
    esac
    "$venv/bin/pip" install -q "${needed[@]}"
fi
if [ ! -x "$PYTHON" ]; then
    echo "no project Python at $PYTHON (run make venv, or set PYTHON)" >&2
    exit 2
fi
exec "$venv/bin/python" scripts/check_home_assistant.py --project-python "$PYTHON" "$@"
