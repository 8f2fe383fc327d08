#!/bin/sh
# The postgres image runs this once, on its first start with an empty volume
# (/docker-entrypoint-initdb.d): the product's roles and database, as roles.sql says.
# The passwords come from .env (scripts/deploy-setup.sh makes them).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v db=smartcab \
    -v app_password="$POSTGRES_APP_PASSWORD" \
    -v reporter_password="$POSTGRES_REPORTER_PASSWORD" \
    -f /etc/smartcab/roles.sql
