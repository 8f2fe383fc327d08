#!/usr/bin/env bash
# Everything `docker compose up` needs that must not be in git: .env with fresh secrets,
# broker accounts, certificates. Usage: scripts/deploy-setup.sh [NAME...]  (NAMEs: the
# host names or addresses clients use, for the certificate). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
secrets=deploy/secrets
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
if [ ! -f .env ]; then
  sed -e "s|^INFLUX_TOKEN=.*|INFLUX_TOKEN=$(random)|" \
      -e "s|^INFLUX_ADMIN_PASSWORD=.*|INFLUX_ADMIN_PASSWORD=$(random)|" \
      -e "s|^GRAFANA_ADMIN_PASSWORD=.*|GRAFANA_ADMIN_PASSWORD=$(random)|" \
      .env.example > .env
  chmod 600 .env
  echo "wrote .env with fresh secrets"
fi
# --- the gateway's device registry: only the devices listed here may connect -------------
registry=deploy/gateway/devices.toml
if [ ! -f "$registry" ]; then
  mkdir -p "$(dirname "$registry")"
  cat > "$registry" <<'TOML'
# The devices that may connect to the gateway (README.md, "The device registry").
# Empty: no device may connect yet. For each board, run
#   docker compose exec gateway python -m services.gateway token <device id>
# paste the entry it prints below, put the token in the board's config.json, and
# restart the gateway (docker compose restart gateway). A board still running the
# original prototype's firmware cannot send a token: give its entry
#   allow_without_token = true
# instead (the gateway warns about each such device when it starts).
TOML
  echo "wrote $registry (empty: add each device with 'python -m services.gateway token <id>')"
fi
if grep -q '^GATEWAY_DEVICES=$' .env; then
  sed -i 's|^GATEWAY_DEVICES=$|GATEWAY_DEVICES=/etc/smartcab/devices.toml|' .env
  echo "set GATEWAY_DEVICES in .env: the gateway enforces the registry"
fi
# ---------------------------------------------------------------------------------------
scripts/broker-accounts.sh "$secrets/mqtt"
scripts/make-certs.sh "$secrets/certs" "$@"
# The broker's own copies: its container hands /mosquitto/secrets to the mosquitto user.
if [ -d "$secrets/broker" ] && [ ! -w "$secrets/broker" ]; then
  echo "$secrets/broker belongs to the broker now; run: sudo rm -rf $secrets/broker; then again" >&2
  exit 1
fi
mkdir -p "$secrets/broker"
cp "$secrets/mqtt/passwords" "$secrets/certs/ca.crt" "$secrets/certs/server.crt" \
   "$secrets/certs/server.key" "$secrets/broker/"
echo "ready: docker compose up -d"
echo "demo (simulated devices, trusted-LAN mode): GATEWAY_TRUSTED_LAN=1 GATEWAY_DEVICES= docker compose --profile demo up -d"
