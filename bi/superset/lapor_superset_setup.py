"""Imports the LAPOR! Jatim dashboards (bi/superset/bundle) into Superset and makes the viewer.

Runs with Superset's own Python (the `superset-init` service of docker-compose.yml, or the
native venv of docs/operations.md), after `superset db upgrade` and `superset init`:

    python bi/superset/lapor_superset_setup.py [--bundle bi/superset/bundle]

Idempotent: every object of the bundle carries a fixed uuid and Superset's asset import
overwrites by uuid, so a second run changes nothing and duplicates nothing; the admin, the
viewer role and the viewer are created once and only brought in step afterwards.

The warehouse connection is the read-only role `bi_reader` and nothing else: the bundle's
database names no other user, no password is in the repository (the import takes it from
LAPOR_BI_PASSWORD) and this script refuses a bundle whose connection names another role.

Environment:
  LAPOR_BI_PASSWORD            bi_reader's password (required)
  LAPOR_WAREHOUSE_HOST/_PORT/_DB  where the warehouse is (default postgres, 5432, lapor)
  SUPERSET_ADMIN_USER/_PASSWORD/_EMAIL   the administrator (created when missing)
  SUPERSET_VIEWER_USER/_PASSWORD         the dashboards' read-only user (role "Pemantau LAPOR")

Each chart of the bundle is written as its explore parameters only (`params`); the stored
`query_context` that Superset's chart data API (GET /api/v1/chart/<id>/data) answers from is
derived here from those parameters, so the two never disagree.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

HERE = Path(__file__).resolve().parent
BI_ROLE = "bi_reader"
VIEWER_ROLE = "Pemantau LAPOR"
MASK = "XXXXXXXXXX"


# --- the bundle -----------------------------------------------------------------------------

def _warehouse_uri(template: str, env: dict[str, str]) -> str:
    parts = urlsplit(template)
    if parts.username != BI_ROLE:
        raise SystemExit(f"lapor-superset-setup: the bundle's warehouse connection names the user "
                         f"{parts.username!r}; Superset reads the warehouse as {BI_ROLE} only")
    host = env.get("LAPOR_WAREHOUSE_HOST") or parts.hostname
    port = env.get("LAPOR_WAREHOUSE_PORT") or str(parts.port or 5432)
    database = env.get("LAPOR_WAREHOUSE_DB") or parts.path.lstrip("/")
    return urlunsplit((parts.scheme, f"{BI_ROLE}:{MASK}@{host}:{port}", f"/{database}", parts.query, ""))


def _filters(params: dict[str, Any]) -> tuple[list[dict], str]:
    simple, where = [], []
    for f in params.get("adhoc_filters") or []:
        if f.get("clause", "WHERE") != "WHERE":
            continue
        if f.get("expressionType") == "SQL":
            where.append(f"({f['sqlExpression']})")
        else:
            simple.append({"col": f["subject"], "op": f["operator"], "val": f.get("comparator")})
    return simple, " AND ".join(where)


def _order(entry: str) -> list:
    column, ascending = json.loads(entry)
    return [column, bool(ascending)]


def query_context(params: dict[str, Any]) -> dict[str, Any]:
    """The query Superset runs for a chart's data, from its explore parameters (the viz types
    the bundle uses: table, big_number(_total), echarts_timeseries_line/_bar, echarts_area,
    pivot_table_v2)."""
    viz = params["viz_type"]
    filters, where = _filters(params)
    query: dict[str, Any] = {
        "filters": filters, "extras": {"where": where, "having": ""}, "applied_time_extras": {},
        "columns": [], "metrics": [], "orderby": [], "annotation_layers": [],
        "row_limit": params.get("row_limit") or 10000, "series_limit": 0, "order_desc": True,
        "url_params": {}, "custom_params": {}, "custom_form_data": {},
    }
    if viz == "table":
        if params.get("query_mode") != "raw":
            raise ValueError("the bundle's tables are raw-mode tables")
        query["columns"] = list(params["all_columns"])
        query["metrics"] = None  # raw rows: no GROUP BY (Superset groups whenever metrics is a list)
        query["orderby"] = [_order(e) for e in params.get("order_by_cols") or []]
    elif viz == "big_number_total":
        query["metrics"] = [params["metric"]]
    elif viz in ("big_number", "echarts_timeseries_line", "echarts_timeseries_bar", "echarts_area"):
        axis: dict[str, Any] = {"columnType": "BASE_AXIS", "sqlExpression": params["x_axis"],
                                "label": params["x_axis"], "expressionType": "SQL"}
        if params.get("time_grain_sqla"):
            axis["timeGrain"] = params["time_grain_sqla"]
        query["columns"] = [axis, *params.get("groupby", [])]
        query["metrics"] = [params["metric"]] if viz == "big_number" else list(params["metrics"])
        if params.get("x_axis_sort"):
            query["orderby"] = [[params["x_axis_sort"], bool(params.get("x_axis_sort_asc"))]]
        else:
            query["orderby"] = [[params["x_axis"], True]]
    elif viz == "pivot_table_v2":
        query["columns"] = [*params["groupbyRows"], *params["groupbyColumns"]]
        query["metrics"] = list(params["metrics"])
        query["orderby"] = [[c, True] for c in query["columns"]]
    else:
        raise ValueError(f"no query for the viz type {viz!r}")
    return {"datasource": None, "force": False, "queries": [query], "form_data": params,
            "result_format": "json", "result_type": "full"}


def load_bundle(bundle: Path, env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(file name -> YAML text, file name -> password) for Superset's ImportAssetsCommand."""
    contents: dict[str, str] = {}
    passwords: dict[str, str] = {}
    password = env.get("LAPOR_BI_PASSWORD", "")
    if not password:
        raise SystemExit("lapor-superset-setup: LAPOR_BI_PASSWORD is not set (bi_reader's password)")
    for path in sorted(bundle.rglob("*.yaml")):
        name = path.relative_to(bundle).as_posix()
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if name.startswith("databases/"):
            config["sqlalchemy_uri"] = _warehouse_uri(config["sqlalchemy_uri"], env)
            passwords[name] = password
        elif name.startswith("charts/"):
            config["query_context"] = json.dumps(query_context(config["params"]))
        contents[name] = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    if "metadata.yaml" not in contents or not passwords:
        raise SystemExit(f"lapor-superset-setup: {bundle} is not the LAPOR! Jatim bundle (metadata.yaml, databases/)")
    return contents, passwords


# --- Superset ---------------------------------------------------------------------------------

def _ensure_admin(sm, env: dict[str, str]):
    name = env.get("SUPERSET_ADMIN_USER", "admin")
    user = sm.find_user(username=name)
    if user is None:
        password = env.get("SUPERSET_ADMIN_PASSWORD")
        if not password:
            raise SystemExit(f"lapor-superset-setup: no user {name!r} and SUPERSET_ADMIN_PASSWORD is not set")
        user = sm.add_user(name, "Admin", "LAPOR Jatim", env.get("SUPERSET_ADMIN_EMAIL", "admin@lapor-jatim.example"),
                           sm.find_role("Admin"), password=password)
        print(f"lapor-superset-setup: administrator {name!r} created")
    return user


def _ensure_viewer(sm, db, env: dict[str, str], database) -> None:
    """Role "Pemantau LAPOR": Gamma's read-only rights plus the LAPOR! Jatim connection's
    datasets (database_access), no SQL Lab; and the viewer user with that role only."""
    role = sm.find_role(VIEWER_ROLE) or sm.add_role(VIEWER_ROLE)
    wanted = set(sm.find_role("Gamma").permissions)
    wanted.add(sm.add_permission_view_menu("database_access", database.perm))
    if set(role.permissions) != wanted:
        role.permissions = sorted(wanted, key=lambda pv: pv.id)
        print(f"lapor-superset-setup: role {VIEWER_ROLE!r} given {len(wanted)} permissions")
    name = env.get("SUPERSET_VIEWER_USER", "pemantau")
    password = env.get("SUPERSET_VIEWER_PASSWORD")
    user = sm.find_user(username=name)
    if user is None:
        if not password:
            raise SystemExit("lapor-superset-setup: SUPERSET_VIEWER_PASSWORD is not set")
        sm.add_user(name, "Pemantau", "LAPOR Jatim", env.get("SUPERSET_VIEWER_EMAIL", f"{name}@lapor-jatim.example"),
                    [role], password=password)
        print(f"lapor-superset-setup: viewer {name!r} created (role {VIEWER_ROLE!r})")
    elif [r.name for r in user.roles] != [VIEWER_ROLE]:
        user.roles = [role]
        sm.update_user(user)
    db.session.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=HERE / "bundle")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    contents, passwords = load_bundle(args.bundle, env)

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import db, security_manager as sm
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.models.core import Database
        from superset.utils.core import override_user

        admin = _ensure_admin(sm, env)
        db.session.commit()
        with override_user(admin):
            ImportAssetsCommand(contents, passwords=passwords).run()
        database_uuid = yaml.safe_load(next(v for k, v in contents.items() if k.startswith("databases/")))["uuid"]
        database = db.session.query(Database).filter_by(uuid=database_uuid).one()
        if database.url_object.username != BI_ROLE:
            raise SystemExit(f"lapor-superset-setup: {database.database_name} connects as "
                             f"{database.url_object.username!r}, not {BI_ROLE}")
        _ensure_viewer(sm, db, env, database)
        counts = {kind: sum(1 for k in contents if k.startswith(kind + "/"))
                  for kind in ("databases", "datasets", "charts", "dashboards")}
        print("lapor-superset-setup: imported " + ", ".join(f"{n} {k}" for k, n in counts.items())
              + f" (connection {database.database_name!r} as {BI_ROLE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
