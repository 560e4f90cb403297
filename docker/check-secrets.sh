#!/usr/bin/env bash
# check-secrets: the compose's first service. It refuses to let the stack start while a secret of
# .env is empty or still the `change-me…` placeholder of .env.example: PostgreSQL, Redis and
# everything after them wait for it to succeed (docker-compose.yml, `depends_on`). Exits 1 and
# names every variable to replace; prints no value. tests/test_compose.py runs it natively.
#
#   bash docker/check-secrets.sh            checks the variables below in its environment
set -euo pipefail

SECRETS=(
  POSTGRES_PASSWORD AIRFLOW_DB_PASSWORD LAPOR_DB_PASSWORD LAPOR_BI_PASSWORD SUPERSET_DB_PASSWORD
  REDIS_PASSWORD AIRFLOW_FERNET_KEY AIRFLOW_JWT_SECRET AIRFLOW_API_SECRET_KEY AIRFLOW_ADMIN_PASSWORD
  SUPERSET_SECRET_KEY SUPERSET_ADMIN_PASSWORD SUPERSET_VIEWER_PASSWORD
)

refused=0
for name in "${SECRETS[@]}"; do
  value="${!name:-}"
  if [[ -z "${value}" ]]; then
    echo "check-secrets: ${name} is not set: give it a value in .env" >&2
    refused=1
  elif [[ "${value,,}" == change-me* ]]; then
    echo "check-secrets: ${name} is still the placeholder of .env.example: replace it in .env" \
         "(e.g. python3 -c \"import secrets; print(secrets.token_urlsafe(32))\")" >&2
    refused=1
  fi
done

if (( refused )); then
  echo "check-secrets: refusing to start with placeholder or empty secrets (docs/operations.md, \"Start\")" >&2
  exit 1
fi
echo "check-secrets: ${#SECRETS[@]} secrets set, none a placeholder"
