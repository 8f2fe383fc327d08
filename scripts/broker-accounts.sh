#!/usr/bin/env bash
# Make a Mosquitto password file with one account per service, and an env file per
# service holding its MQTT_USERNAME and MQTT_PASSWORD. Usage: broker-accounts.sh DIR
# Existing accounts keep their passwords; run it again to add missing ones.
set -euo pipefail
dir=${1:?usage: broker-accounts.sh DIR}
mkdir -p "$dir"
umask 077
passwords="$dir/passwords"
# homeassistant: for Home Assistant's MQTT integration (docs/deploy.md); by default it reads
# only availability and discovery, more is opted into per device in mosquitto/acl
for account in gateway recorder scheduler web reporter notifier pillbox homeassistant; do
  env_file="$dir/$account.env"
  if [ ! -f "$env_file" ]; then
    secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    printf 'MQTT_USERNAME=%s\nMQTT_PASSWORD=%s\n' "$account" "$secret" > "$env_file"
  fi
  secret=$(sed -n 's/^MQTT_PASSWORD=//p' "$env_file")
  if [ -f "$passwords" ]; then
    mosquitto_passwd -b "$passwords" "$account" "$secret"
  else
    mosquitto_passwd -c -b "$passwords" "$account" "$secret"
  fi
done
echo "accounts in $passwords; one env file per service in $dir"
