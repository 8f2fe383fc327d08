#!/usr/bin/env bash
# Everything `docker compose up` needs that must not be in git: .env with fresh secrets,
# broker accounts, certificates. Usage: scripts/deploy-setup.sh [NAME...]  (NAMEs: the
# host names or addresses clients use, for the certificate). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
secrets=deploy/secrets
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
# the secrets .env must hold; empty ones are filled, placeholders and short ones refused
SECRETS="INFLUX_TOKEN INFLUX_ADMIN_PASSWORD GRAFANA_ADMIN_PASSWORD GRAFANA_INFLUX_PASSWORD POSTGRES_PASSWORD POSTGRES_APP_PASSWORD POSTGRES_REPORTER_PASSWORD"
if [ ! -f .env ]; then
  cp .env.example .env
  chmod 600 .env
  echo "wrote .env from .env.example"
fi
refused=""
for name in $SECRETS; do
  value=$(sed -n "s/^$name=//p" .env | tail -1)
  if ! grep -q "^$name=" .env; then
    printf '%s=%s\n' "$name" "$(random)" >>.env
    echo "added a fresh $name to .env"
  elif [ -z "$value" ]; then
    sed -i "s|^$name=\$|$name=$(random)|" .env
    echo "filled $name in .env with a fresh secret"
  elif [[ ${#value} -lt 16 || ${value,,} == *change* || ${value,,} == *placeholder* ]]; then
    refused+=" $name"
  fi
done
if [ -n "$refused" ]; then
  echo "refusing placeholder or short secrets in .env:$refused" >&2
  echo "empty them (a fresh one is made) unless a running database already uses them:" >&2
  echo "then change them there first (docs/deploy.md, Secrets)" >&2
  exit 1
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
# `docker compose up` runs the production profile's gateway (the demo profile has its own)
if ! grep -q '^COMPOSE_PROFILES=' .env; then
  printf 'COMPOSE_PROFILES=production\n' >>.env
  echo "added COMPOSE_PROFILES=production to .env: docker compose up runs the registry's gateway"
fi
# The `postgres` profile: the app database in PostgreSQL, the reporter on its read-only role
# (the passwords are URL-safe, as random() makes them).
if grep -q '^COMPOSE_PROFILES=.*postgres' .env && grep -q '^DATABASE_URL=$' .env; then
  app_pw=$(sed -n 's/^POSTGRES_APP_PASSWORD=//p' .env | tail -1)
  reporter_pw=$(sed -n 's/^POSTGRES_REPORTER_PASSWORD=//p' .env | tail -1)
  sed -i "s|^DATABASE_URL=\$|DATABASE_URL=postgresql://smartcab:$app_pw@postgres:5432/smartcab|" .env
  sed -i "s|^REPORTER_DATABASE_URL=\$|REPORTER_DATABASE_URL=postgresql://smartcab_reporter:$reporter_pw@postgres:5432/smartcab|" .env
  echo "set DATABASE_URL and REPORTER_DATABASE_URL in .env: the app database is PostgreSQL"
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
echo "or the demo (simulated devices, a trusted-LAN gateway only they reach): docker compose --profile demo up -d"
