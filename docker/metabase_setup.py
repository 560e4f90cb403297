"""The `metabase-setup` service: a fresh Metabase gets its admin (from .env) and the warehouse
as a data source, connected as the read-only role `bi_reader` (it sees the schema `marts`).

Idempotent: a Metabase already set up is only given the data source if it lacks it. Standard
library only; runs in the project's Airflow image. Metabase's API: /api/session/properties
(setup-token), /api/setup, /api/session, /api/database.
"""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ.get("MB_URL", "http://metabase:3000").rstrip("/")
DATA_SOURCE = "LAPOR! Jatim (marts)"


def call(method: str, path: str, body: dict | None = None, session: str | None = None) -> dict | list:
    headers = {"Content-Type": "application/json"}
    if session:
        headers["X-Metabase-Session"] = session
    request = urllib.request.Request(BASE + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = response.read()
    return json.loads(payload) if payload else {}


def wait_until_up(timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if call("GET", "/api/health").get("status") == "ok":
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        if time.monotonic() > deadline:
            sys.exit(f"metabase-setup: {BASE} did not become healthy in {timeout:.0f} s")
        time.sleep(5)


def main() -> int:
    env = os.environ
    admin = {"email": env["MB_ADMIN_EMAIL"], "password": env["MB_ADMIN_PASSWORD"]}
    wait_until_up()
    token = call("GET", "/api/session/properties").get("setup-token")
    if token:
        call("POST", "/api/setup", {
            "token": token,
            "user": {**admin, "first_name": "Admin", "last_name": "LAPOR", "site_name": "LAPOR! Jatim"},
            "prefs": {"site_name": "LAPOR! Jatim", "site_locale": "id", "allow_tracking": False},
        })
        print("metabase-setup: admin created")
    session = call("POST", "/api/session", {"username": admin["email"], "password": admin["password"]})["id"]
    databases = call("GET", "/api/database", session=session)
    databases = databases.get("data", databases) if isinstance(databases, dict) else databases
    if any(db.get("name") == DATA_SOURCE for db in databases):
        print(f"metabase-setup: data source {DATA_SOURCE!r} already there")
        return 0
    call("POST", "/api/database", {
        "engine": "postgres",
        "name": DATA_SOURCE,
        "details": {
            "host": env.get("WAREHOUSE_HOST", "postgres"), "port": int(env.get("WAREHOUSE_PORT", "5432")),
            "dbname": env.get("WAREHOUSE_DB", "lapor"), "user": "bi_reader",
            "password": env["LAPOR_BI_PASSWORD"], "schema-filters-type": "inclusion",
            "schema-filters-patterns": "marts", "ssl": False,
        },
    }, session=session)
    print(f"metabase-setup: data source {DATA_SOURCE!r} added (user bi_reader, schema marts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
