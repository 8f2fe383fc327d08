#!/bin/sh
# Copy one board's firmware onto a MicroPython ESP32 with mpremote.
# usage: [CA=ca.crt] firmware/deploy.sh watch|camera|cabinet [config.json] [mpremote connect target]
set -eu
board=${1:?usage: $0 watch|camera|cabinet [config.json] [port]}
here=$(cd "$(dirname "$0")" && pwd)
config=${2:-$here/boards/$board/config.json}
port=${3:-auto}
[ -f "$here/boards/$board/main.py" ] || { echo "no board named $board" >&2; exit 2; }
mp="mpremote connect $port"
$mp mkdir :lib 2>/dev/null || true
$mp mkdir :lib/smartcab 2>/dev/null || true
for f in "$here"/smartcab/*.py; do
    $mp cp "$f" ":lib/smartcab/$(basename "$f")"
done
# the wire format and a device's end of it, as the gateway's own protocol module uses them
for f in wire device_link; do
    $mp cp "$here/../services/common/$f.py" ":lib/smartcab/$f.py"
done
# the boot module that finishes or undoes an update: outside the library an update replaces
$mp cp "$here/otaboot.py" :lib/otaboot.py
$mp cp "$config" :config.json
# the CA a board with "tls": true trusts (its "tls_ca", ca.crt by default)
if [ -n "${CA:-}" ]; then
    $mp cp "$CA" :ca.crt
fi
$mp cp "$here/boards/$board/main.py" :main.py
$mp reset
echo "$board firmware copied; watch it with: mpremote connect $port repl"
