#!/bin/bash
# Grafana's InfluxDB account: a v1 user (InfluxQL, like the services) that may only read
# the vitals bucket. The influxdb image runs this once, after its first start's setup;
# on a database set up before, run it by hand (docs/deploy.md):
#   docker compose exec influxdb bash /docker-entrypoint-initdb.d/grafana-reader.sh
# Running it again changes nothing.
set -euo pipefail
: "${GRAFANA_INFLUX_PASSWORD:?set by docker-compose.yml from .env}"
org=${DOCKER_INFLUXDB_INIT_ORG:?}
bucket_id=${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}
if [ -z "$bucket_id" ]; then
  bucket_id=$(influx bucket list --org "$org" --name "${DOCKER_INFLUXDB_INIT_BUCKET:?}" \
    --hide-headers | cut -f1)
fi
# The whole list first, then the match: `influx ... | grep -q` under pipefail can fail when
# grep stops reading early, and a failing script makes the image wipe its first setup.
existing=$(influx v1 auth list --org "$org" --hide-headers)
if grep -qwF grafana <<<"$existing"; then
  echo "grafana-reader: the v1 user grafana exists already"
  exit 0
fi
influx v1 auth create --org "$org" --username grafana --password "$GRAFANA_INFLUX_PASSWORD" \
  --read-bucket "$bucket_id" --description "Grafana: read the vitals bucket only"
echo "grafana-reader: made the read-only v1 user grafana"
