#!/bin/sh
# The postgres image runs this once, on its first start with an empty volume
# (/docker-entrypoint-initdb.d): the product's roles and database (roles.sql).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v db="${SMARTCAB_DB:-smartcab}" \
    -v app_password="$(cat /run/secrets/postgres-app-password)" \
    -v reporter_password="$(cat /run/secrets/postgres-reporter-password)" \
    -f /docker-entrypoint-initdb.d/roles.sql.in
