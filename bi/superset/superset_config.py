"""Superset's configuration for LAPOR! Jatim, one file for docker-compose.yml (mounted at
/app/pythonpath/superset_config.py) and for the native run and tests/test_superset.py
(SUPERSET_CONFIG_PATH pointing here). Everything a deployment changes comes from the
environment; nothing secret is written here.

  SUPERSET_SECRET_KEY        signs sessions and encrypts the stored warehouse password (required)
  SUPERSET_METADATA_DB_URI   Superset's own database (compose: postgresql+psycopg2://superset:…@postgres/superset)
"""
from __future__ import annotations

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_METADATA_DB_URI"]

# The dashboards are read in Bahasa Indonesia; Superset's own menus stay in English where it
# has no Indonesian translation.
BABEL_DEFAULT_LOCALE = "en"

FEATURE_FLAGS = {
    # every chart of a dashboard is drawn, also those below the fold (screenshots, printing)
    "DASHBOARD_VIRTUALIZATION": False,
    # dashboards carry their own filters (native filters) and may be shared read-only
    "DASHBOARD_NATIVE_FILTERS": True,
}

# No example data, no telemetry, no outbound calls from the server.
SUPERSET_LOAD_EXAMPLES = False
SCARF_ANALYTICS = False
MAPBOX_API_KEY = ""

# Reads only: the warehouse connection is bi_reader (SELECT on the schema marts), and the
# connection itself forbids DML and table creation (bi/superset/bundle/databases).
PREVENT_UNSAFE_DB_CONNECTIONS = True
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 50000

# The web login sets a session cookie; behind a TLS proxy set SUPERSET_COOKIE_SECURE=true.
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = os.environ.get("SUPERSET_COOKIE_SECURE", "false").lower() == "true"
TALISMAN_ENABLED = os.environ.get("SUPERSET_TALISMAN_ENABLED", "true").lower() == "true"

# One process per container, no Redis: a simple in-process cache.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
