#!/usr/bin/env bash
# airflow-init: what the other Airflow services need before they start. Idempotent: the
# compose runs it on every `docker compose up`, and tests/test_scheduler_smoke.py runs this
# same file before it starts a real scheduler on the test machine.
#
#   1. airflow db migrate                 the metadata database at this Airflow version
#   2. pool lapor_sources                 LAPOR_SOURCES_POOL_SLOTS agencies fetched and loaded at once
#   3. connection smtp_alerts             from SMTP_ALERTS_CONN_URI: alert e-mails + failure notice
#   4. the admin's password               AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD, for the
#                                         simple auth manager (UI login and POST /auth/token)
#   5. folder owners                      AIRFLOW_INIT_CHOWN_DIRS belong to AIRFLOW_UID (compose only:
#                                         named volumes start out owned by root)
set -euo pipefail

echo "airflow-init: $(airflow version)"

airflow db migrate

airflow pools set lapor_sources "${LAPOR_SOURCES_POOL_SLOTS:-8}" "agencies fetched and loaded at once"

if [[ -n "${SMTP_ALERTS_CONN_URI:-}" ]]; then
  # delete + add: the connection always matches .env (a rotated SMTP password included)
  airflow connections delete smtp_alerts >/dev/null 2>&1 || true
  airflow connections add smtp_alerts --conn-uri "${SMTP_ALERTS_CONN_URI}"
fi

if [[ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]]; then
  export AIRFLOW_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-${AIRFLOW_HOME:-/opt/airflow}/simple_auth_manager_passwords.json.generated}"
  python - <<'PY'
import json, os
path = os.environ["AIRFLOW_PASSWORDS_FILE"]
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
tmp = path + ".tmp"
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
    json.dump({os.environ.get("AIRFLOW_ADMIN_USER", "admin"): os.environ["AIRFLOW_ADMIN_PASSWORD"]}, out)
    out.write("\n")
os.replace(tmp, path)
print(f"airflow-init: password of {os.environ.get('AIRFLOW_ADMIN_USER', 'admin')!r} set in {path}")
PY
fi

for dir in ${AIRFLOW_INIT_CHOWN_DIRS:-}; do
  mkdir -p "${dir}"
  find "${dir}" \! -user "${AIRFLOW_UID:-50000}" -exec chown "${AIRFLOW_UID:-50000}:0" {} +
done

echo "airflow-init: done"
