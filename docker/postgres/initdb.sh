#!/usr/bin/env bash
# Mounted as /docker-entrypoint-initdb.d/10-lapor.sh: the postgres image runs it once, when the
# data volume is empty, as the superuser POSTGRES_USER. It creates the roles and databases of
# docker/postgres/init.sql with the passwords from .env. tests/test_compose.py runs it too,
# against a throwaway PostgreSQL 16 (PGHOST/PGPORT/PGPASSWORD set, INIT_SQL pointing here).
set -euo pipefail

psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v airflow_password="${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in .env}" \
  -v lapor_password="${LAPOR_DB_PASSWORD:?set LAPOR_DB_PASSWORD in .env}" \
  -v bi_password="${LAPOR_BI_PASSWORD:?set LAPOR_BI_PASSWORD in .env}" \
  -v superset_password="${SUPERSET_DB_PASSWORD:?set SUPERSET_DB_PASSWORD in .env}" \
  -f "${INIT_SQL:-/opt/lapor-initdb/init.sql}"
