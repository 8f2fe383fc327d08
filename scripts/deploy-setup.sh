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
# The web's key: encrypts TOTP secrets at rest and signs browser tokens. Never replaced:
# a new key would make every stored TOTP secret unreadable.
if [ ! -f "$secrets/web/secret.key" ]; then
  mkdir -p "$secrets/web" && chmod 700 "$secrets/web"
  python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' \
    > "$secrets/web/secret.key"
  chmod 644 "$secrets/web/secret.key"  # read by the web container's own user; the folder is 700
  echo "wrote $secrets/web/secret.key"
fi
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
echo "ready: docker compose up -d   (demo devices: docker compose --profile demo up -d)"
