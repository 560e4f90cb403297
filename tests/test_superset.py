"""The BI dashboards as code (bi/superset) in a real Superset, against a demo warehouse.

Superset is installed into its own venv, cached across runs under ~/.cache (its pins clash
with Airflow's, so never into the project's venv); the set-up installs it when missing. Its
metadata database is SQLite in the test's folder; the warehouse is the session's embedded
PostgreSQL after a demo night (2021-05-27 on the sample exports).

  * the bundle is imported twice with bi/superset/lapor_superset_setup.py: same objects, same ids;
  * every chart's data, asked through Superset's chart data API as the viewer user, equals the
    marts queried directly;
  * Superset reaches the warehouse as bi_reader only (its stored connections, and the
    sessions PostgreSQL sees while the charts are asked);
  * each dashboard, opened logged in in headless Chromium, draws every chart with no error
    (screenshots kept under the test's folder; the path is printed).
"""
from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from report_browser import chromium  # noqa: F401  (fixture)
from superset_browser import open_dashboards

ROOT = Path(__file__).resolve().parents[1]
BI = ROOT / "bi" / "superset"
BUNDLE = BI / "bundle"
SEED_DATE = date(2021, 5, 27)
# The tested Superset; docker-compose.yml runs the image of the same version (tests/test_compose.py).
SUPERSET_VERSION = "6.1.0"
SUPERSET_PINS = [f"apache-superset=={SUPERSET_VERSION}", "flask-caching==2.3.1", "rich==15.0.0",
                 "cachetools==8.0.2", "psycopg2-binary==2.9.13"]
APP_NAME = "superset-lapor-jatim"  # the connection's application_name (bundle, databases/)


# --- Superset in its own venv -------------------------------------------------------------------

def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def superset_venv() -> Path:
    """The cached venv for SUPERSET_PINS (keyed by the pins and the Python version), installed when missing."""
    key = hashlib.sha256(("\n".join(SUPERSET_PINS) + sys.version).encode()).hexdigest()[:12]
    venv = Path(os.environ.get("LAPOR_SUPERSET_VENV_CACHE", Path.home() / ".cache")) / f"lapor-superset-venv-{key}"
    done = venv / ".installed"
    if done.exists():
        return venv
    subprocess.run([_base_python(), "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", *SUPERSET_PINS],
                             capture_output=True, text=True, timeout=1800)
    if install.returncode != 0:
        raise RuntimeError(f"installing {' '.join(SUPERSET_PINS)} failed:\n{install.stderr[-4000:]}")
    done.write_text("\n".join(SUPERSET_PINS) + "\n")
    return venv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Web:
    """A logged-in web session of Superset (the form login, as a person signs in)."""

    def __init__(self, base: str, username: str, password: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  urllib.request.ProxyHandler({}))
        page = self.opener.open(base + "/login/", timeout=60).read().decode()
        token = re.search(r'id="csrf_token"[^>]*value="([^"]+)"', page) or \
            re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token, "no csrf_token on Superset's login page"
        form = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token.group(1)})
        self.opener.open(base + "/login/", form.encode(), timeout=60).read()
        me = self.get("/api/v1/me/")
        assert me.get("result", {}).get("username") == username, f"login as {username} failed: {me}"

    def get(self, path: str) -> dict:
        try:
            with self.opener.open(self.base + path, timeout=120) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            return {"http_status": exc.code, "body": exc.read().decode(errors="replace")[:2000]}

    @property
    def session_cookie(self) -> dict:
        cookie = next(c for c in self.jar if c.name == "session")
        return {"name": cookie.name, "value": cookie.value}


def _value(v):
    return str(uuid.UUID(bytes=v)) if isinstance(v, bytes) and len(v) == 16 else v


def _counts(metadata_db: Path) -> dict:
    """The objects in Superset's metadata (uuids, and the dashboards' charts as id pairs)."""
    with sqlite3.connect(metadata_db) as conn:
        return {table: sorted(_value(r[0]) for r in conn.execute(f"select {column} from {table}"))
                for table, column in (("dbs", "uuid"), ("tables", "uuid"), ("slices", "uuid"),
                                      ("dashboards", "uuid"),
                                      ("dashboard_slices", "dashboard_id || ':' || slice_id"))} | {
            "ids": sorted(tuple(map(_value, r)) for r in conn.execute("select 'chart', id, uuid from slices union all "
                                       "select 'dashboard', id, uuid from dashboards union all "
                                       "select 'dataset', id, uuid from tables"))}


@pytest.fixture(scope="module")
def demo_night(settings, warehouse, sample_exports, smtp_server, tmp_path_factory):
    """The session warehouse after the demo night 2021-05-27 (as tests/test_seed_scenario.py)."""
    from lapor.runner import run_date
    from lapor.settings import Settings

    mp = pytest.MonkeyPatch()
    mp.setenv("LAPOR_SMTP_URL", smtp_server[0])
    try:
        log = tmp_path_factory.mktemp("superset-night") / "airflow.log"
        outcome = run_date(Settings.from_env(), SEED_DATE, sample_exports, log_file=log)
        assert outcome.ok, f"{outcome.state}: {outcome.failed_tasks}\n" + log.read_text()[-5000:]
    finally:
        mp.undo()
    return warehouse


@pytest.fixture(scope="module")
def superset(demo_night, settings, tmp_path_factory):
    """A Superset server on 127.0.0.1 with the bundle imported twice; yields its facts."""
    from lapor.warehouse import bi_password, bi_reader_url

    try:
        venv = superset_venv()
    except (RuntimeError, subprocess.SubprocessError) as exc:
        pytest.fail(f"Superset {SUPERSET_VERSION} could not be installed into its own venv: {exc}", pytrace=False)
    folder = tmp_path_factory.mktemp("superset")
    bi_url = urllib.parse.urlsplit(bi_reader_url(settings))
    admin_pw, viewer_pw = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAPOR_", "SUPERSET_", "PYTHON"))},
        "SUPERSET_CONFIG_PATH": str(BI / "superset_config.py"),
        "SUPERSET_SECRET_KEY": secrets.token_urlsafe(42),
        "SUPERSET_METADATA_DB_URI": f"sqlite:///{folder / 'superset.db'}",
        "FLASK_APP": "superset",
        "SUPERSET_ADMIN_USER": "admin", "SUPERSET_ADMIN_PASSWORD": admin_pw,
        "SUPERSET_VIEWER_USER": "pemantau", "SUPERSET_VIEWER_PASSWORD": viewer_pw,
        "LAPOR_BI_PASSWORD": bi_password(settings),
        "LAPOR_WAREHOUSE_HOST": bi_url.hostname, "LAPOR_WAREHOUSE_PORT": str(bi_url.port),
        "LAPOR_WAREHOUSE_DB": bi_url.path.lstrip("/"),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    }
    python = str(venv / "bin" / "python")

    def run(*args: str, timeout: float = 600) -> str:
        done = subprocess.run([python, *args], env=env, cwd=folder, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return done.stdout + done.stderr

    superset_cli = ["-c", "from superset.cli.main import superset; superset()"]
    run(*superset_cli, "db", "upgrade")
    run(*superset_cli, "init")
    setup = str(BI / "lapor_superset_setup.py")
    first_output = run(setup)
    first = _counts(folder / "superset.db")
    second_output = run(setup)
    second = _counts(folder / "superset.db")

    port = _free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen([python, *superset_cli, "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
                              env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 180
    while True:
        try:
            if opener.open(base + "/health", timeout=5).read().strip() == b"OK":
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail("Superset did not come up:\n" + (folder / "server.log").read_text()[-5000:], pytrace=False)
        time.sleep(1)
    try:
        yield {"base": base, "folder": folder, "metadata_db": folder / "superset.db", "first": first,
               "second": second, "outputs": (first_output, second_output),
               "admin": ("admin", admin_pw), "viewer": ("pemantau", viewer_pw),
               "bi_password": env["LAPOR_BI_PASSWORD"]}
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _bundle(kind: str) -> dict[str, dict]:
    return {str(c["uuid"]): c for c in (yaml.safe_load(p.read_text()) for p in (BUNDLE / kind).rglob("*.yaml"))}


# --- the import -------------------------------------------------------------------------------

def test_bundle_imported_twice_gives_the_same_objects(superset):
    first, second = superset["first"], superset["second"]
    assert first == second
    assert len(first["dbs"]) == 1
    assert set(first["tables"]) == set(_bundle("datasets"))
    assert set(first["slices"]) == set(_bundle("charts"))
    assert set(first["dashboards"]) == set(_bundle("dashboards"))
    assert len(first["dashboard_slices"]) == len(_bundle("charts"))  # every chart on exactly one dashboard
    assert "imported 1 databases, 6 datasets, 14 charts, 5 dashboards" in superset["outputs"][1]
    # the second run creates nobody
    assert "created" not in superset["outputs"][1]


def test_labels_are_the_marts_label_id(superset):
    """Columns the datasets take straight from a mart carry its Bahasa Indonesia label."""
    per_model: dict[str, dict[str, str]] = {}
    for path in sorted((ROOT / "dbt_project" / "models" / "marts").glob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for column in model.get("columns", []):
                if (column.get("meta") or {}).get("label_id"):
                    per_model.setdefault(model["name"], {})[column["name"]] = column["meta"]["label_id"]
    same = {"as_of_date", "received_ytd", "completed_ytd", "open_from_prior_years", "median_working_days_to_close",
            "p90_working_days_to_close", "pct_followup_within_sla", "pct_closed_within_sla", "due_date", "finding"}
    checked = 0
    for dataset in _bundle("datasets").values():
        for column in dataset["columns"]:
            if column["column_name"] in same:
                # the label of the mart the dataset reads (a virtual dataset: the first mart that labels it)
                labels = per_model.get(dataset["table_name"]) or next(
                    m for name, m in sorted(per_model.items()) if column["column_name"] in m)
                if column["column_name"] not in labels:
                    labels = next(m for name, m in sorted(per_model.items()) if column["column_name"] in m)
                assert column["verbose_name"] == labels[column["column_name"]], (dataset["table_name"], column)
                checked += 1
    assert checked >= 10


# --- the figures ------------------------------------------------------------------------------

STATUS = {"on_time": "tepat waktu", "late": "terlambat", "missing": "BELUM ADA", "not_due": "belum jatuh tempo"}
LATEST_SCORE = "(select max(as_of_date) from marts.agency_scorecard)"
PROVINCE_RATE = ("round(100.0 * sum(completed_ytd) / nullif(sum(received_ytd), 0), 2)")
# chart (file name in bundle/charts) -> the marts' figures, in the chart's columns, straight from the warehouse
EXPECTED = {
    "ringkasan_belum_selesai": "select as_of_date, sum(open_complaints) from marts.fct_backlog_daily group by 1",
    "ringkasan_tren_tunggakan": "select as_of_date, sum(open_complaints), sum(open_from_prior_years) "
                                "from marts.fct_backlog_daily group by 1",
    "ringkasan_burndown_2020": "select as_of_date, sum(open_from_prior_years) from marts.fct_backlog_daily "
                               "where extract(year from as_of_date) = 2021 group by 1",
    "ringkasan_persen_provinsi": f"select as_of_date, {PROVINCE_RATE} from marts.agency_scorecard group by 1",
    "ringkasan_persen_vs_provinsi": f"""select a.agency_name, s.completion_rate,
            (select {PROVINCE_RATE} from marts.agency_scorecard where as_of_date = {LATEST_SCORE})
        from marts.agency_scorecard s join marts.dim_agency a using (agency_code)
        where s.as_of_date = {LATEST_SCORE}""",
    "kartu_skor_peringkat": f"""select s.rank, a.agency_name, a.agency_type, s.received_ytd, s.completed_ytd,
            s.completion_rate,
            (select {PROVINCE_RATE} from marts.agency_scorecard where as_of_date = {LATEST_SCORE}),
            s.open_complaints, s.followup_report_status, s.as_of_date
        from marts.agency_scorecard s join marts.dim_agency a using (agency_code)
        where s.as_of_date = {LATEST_SCORE}""",
    "tindak_lanjut_grid": "select a.agency_name, to_char(f.period, 'YYYY-MM'), f.report_status "
                          "from marts.fct_followup_reports f join marts.dim_agency a using (agency_code)",
    "tindak_lanjut_belum_ada": "select a.agency_name, to_char(f.period, 'YYYY-MM'), f.due_date, f.report_status "
                               "from marts.fct_followup_reports f join marts.dim_agency a using (agency_code) "
                               "where f.report_status = 'missing'",
    "penyelesaian_median_provinsi": """select date_trunc('month', closed_on)::date,
            percentile_cont(0.5) within group (order by working_days_to_close),
            percentile_cont(0.9) within group (order by working_days_to_close)
        from marts.fct_complaints where status = 'completed' and closed_at is not null group by 1""",
    "penyelesaian_jumlah_bulanan": "select month, sum(completed) from marts.agg_resolution_monthly group by 1",
    "penyelesaian_per_instansi": """select a.agency_name, r.month, r.completed, r.median_working_days_to_close,
            r.p90_working_days_to_close, r.pct_followup_within_sla, r.pct_closed_within_sla
        from marts.agg_resolution_monthly r join marts.dim_agency a using (agency_code)""",
    # the checks: from the pipeline's own table, not from the mart the dashboard reads
    "pemeriksaan_jumlah_temuan": "select count(*) from quality.check_results where not passed "
                                 "and run_date = (select max(run_date) from quality.check_results)",
    "pemeriksaan_per_jenis": """select check_name, count(distinct agency_code) filter (where not passed)
        from quality.check_results where run_date = (select max(run_date) from quality.check_results) group by 1""",
    "pemeriksaan_temuan": """select c.run_date, c.check_name, a.agency_name from quality.check_results c
        join marts.dim_agency a using (agency_code)
        where not c.passed and c.run_date = (select max(run_date) from quality.check_results)""",
}
def _check_labels() -> dict[str, str]:
    from lapor.vocabulary import checks

    return {c.name: c.label for c in checks()}   # the seed coordinator_checks.csv, the one home


CHECK_LABELS = _check_labels()


def _norm(value, temporal: bool = False):
    if isinstance(value, Decimal):
        value = float(value)
    if temporal and isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc).date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, float):
        return round(value, 2)
    return value


def _api_rows(result: dict, chart: dict) -> list[tuple]:
    temporal = {c["column_name"] for c in chart["_dataset"]["columns"] if c["is_dttm"]}
    columns = result["colnames"]
    rows = [tuple(_norm(row[c], c in temporal) for c in columns) for row in result["data"]]
    name = chart["_key"]
    if name == "tindak_lanjut_grid":  # shown in Bahasa Indonesia: back to the mart's codes
        back = {v: k for k, v in STATUS.items()}
        rows = [(a, m, back[s]) for a, m, s in rows]
    elif name == "tindak_lanjut_belum_ada":
        back = {v: k for k, v in STATUS.items()}
        rows = [(a, m, d, back[s]) for a, m, d, s in rows]
    elif name == "pemeriksaan_per_jenis":
        back = {v: k for k, v in CHECK_LABELS.items()}
        rows = [(back[label], n) for label, n in rows]
    elif name == "pemeriksaan_temuan":
        back = {v: k for k, v in CHECK_LABELS.items()}
        rows = [(d, back[label], agency) for d, _severity, label, agency, _finding in rows]
    return rows


def _charts() -> dict[str, dict]:
    datasets = _bundle("datasets")
    out = {}
    for path in sorted((BUNDLE / "charts").glob("*.yaml")):
        chart = yaml.safe_load(path.read_text())
        chart["_key"] = path.stem
        chart["_dataset"] = datasets[str(chart["dataset_uuid"])]
        out[str(chart["uuid"])] = chart
    return out


class SessionWatcher(threading.Thread):
    """Which roles hold the warehouse sessions named APP_NAME while it runs (pg_stat_activity)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.seen, self.stop = url, set(), threading.Event()

    def run(self):
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                for row in conn.execute("select usename, datname from pg_stat_activity where application_name = %s",
                                        (APP_NAME,)):
                    self.seen.add(tuple(row))
                time.sleep(0.005)


@pytest.fixture(scope="module")
def chart_data(superset, demo_night):
    """Every chart's data through GET /api/v1/chart/<id>/data as the viewer (fresh, not cached),
    and the warehouse roles seen meanwhile."""
    web = Web(superset["base"], *superset["viewer"])
    listed = web.get("/api/v1/chart/?q=" + urllib.parse.quote("(page_size:100)"))
    watcher = SessionWatcher(demo_night)
    watcher.start()
    try:
        data = {}
        for item in listed.get("result", []):
            reply = web.get(f"/api/v1/chart/{item['id']}/data/?force=true")
            data[item["id"]] = (item, reply)
        time.sleep(0.2)
    finally:
        watcher.stop.set()
        watcher.join(10)
    return {"listed": listed, "data": data, "roles": watcher.seen}


def test_the_viewer_sees_every_chart_and_dashboard(superset, chart_data):
    assert chart_data["listed"].get("count") == len(_bundle("charts")), chart_data["listed"]
    web = Web(superset["base"], *superset["viewer"])
    dashboards = web.get("/api/v1/dashboard/?q=" + urllib.parse.quote("(page_size:100)"))
    assert {d["slug"] for d in dashboards["result"]} == {d["slug"] for d in _bundle("dashboards").values()}
    # a viewer: no SQL Lab, no editing
    assert web.get("/api/v1/sqllab/").get("http_status") in (401, 403, 404, 405)
    me = web.get("/api/v1/me/roles/")
    assert set(me["result"]["roles"]) == {"Pemantau LAPOR"}


def test_every_chart_data_equals_the_marts(chart_data, demo_night):
    charts = _charts()
    by_name = {c["slice_name"]: c for c in charts.values()}
    assert len(chart_data["data"]) == len(charts)
    problems = []
    with psycopg.connect(demo_night) as conn:
        for item, reply in chart_data["data"].values():
            chart = by_name[item["slice_name"]]
            if "result" not in reply:
                problems.append(f"{chart['_key']}: {reply}")
                continue
            result = reply["result"][0]
            got = _api_rows(result, chart)
            want = [tuple(_norm(v) for v in row) for row in conn.execute(EXPECTED[chart["_key"]]).fetchall()]
            if chart["_key"] == "pemeriksaan_per_jenis":
                want = [r for r in want if r[0] in CHECK_LABELS]
            if sorted(got, key=repr) != sorted(want, key=repr):
                problems.append(f"{chart['_key']}: {len(got)} rows from Superset, {len(want)} in the marts; "
                                f"first differences {sorted(set(got) ^ set(want), key=repr)[:5]}")
            elif not want:
                problems.append(f"{chart['_key']}: no rows at all (the demo night should fill it)")
            if chart["_key"] == "kartu_skor_peringkat":  # shown in rank order
                assert [r[0] for r in got] == sorted(r[0] for r in got)
    assert problems == []


def test_blitar_april_2021_shows_missing(chart_data):
    rows = next(reply["result"][0]["data"] for item, reply in chart_data["data"].values()
                if item["slice_name"] == "Laporan hasil tindak lanjut yang belum ada")
    assert [(r["agency_name"], r["bulan"], r["status_laporan"]) for r in rows] == \
        [("Kabupaten Blitar", "2021-04", "BELUM ADA")]


# --- bi_reader only ---------------------------------------------------------------------------

def test_superset_reads_the_warehouse_as_bi_reader_only(superset, chart_data):
    with sqlite3.connect(superset["metadata_db"]) as conn:
        uris = [r[0] for r in conn.execute("select sqlalchemy_uri from dbs")]
        stored = [r[0] for r in conn.execute("select password from dbs")]
    assert uris and all(urllib.parse.urlsplit(u).username == "bi_reader" for u in uris), uris
    assert all(urllib.parse.urlsplit(u).password in (None, "XXXXXXXXXX") for u in uris)
    assert all(p and superset["bi_password"] not in str(p) for p in stored)  # encrypted at rest
    # the sessions PostgreSQL saw while Superset answered the charts
    assert chart_data["roles"], "no Superset session was seen in pg_stat_activity during the chart queries"
    assert {role for role, _ in chart_data["roles"]} == {"bi_reader"}, chart_data["roles"]
    # and the repository holds no password for it
    for path in BI.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".py"):
            text = path.read_text()
            assert not re.search(r"bi_reader:(?!XXXXXXXXXX@)[^@\s]+@", text), path


# --- the dashboards in a browser ------------------------------------------------------------

def test_every_dashboard_renders_every_chart_without_error(superset, chromium, chart_data):  # noqa: F811
    web = Web(superset["base"], *superset["viewer"])
    dashboards = _bundle("dashboards")
    expected = {d["slug"]: sum(1 for k in d["position"] if k.startswith("CHART-")) for d in dashboards.values()}
    shots = superset["folder"] / "screenshots"
    results = open_dashboards(chromium, superset["base"], web.session_cookie, sorted(expected), shots)
    print(f"\nSuperset dashboard screenshots: {shots}")
    problems = []
    for slug, count in expected.items():
        state = results[slug]
        charts = state.get("charts", [])
        if len(charts) != count:
            problems.append(f"{slug}: {len(charts)} charts on the page, {count} in the bundle")
        for c in charts:
            if c["error"] or not c["drawn"] or c["loading"]:
                problems.append(f"{slug}: {c['name']!r} error={c['error']!r} drawn={c['drawn']} loading={c['loading']}")
        if state.get("toasts"):
            problems.append(f"{slug}: {state['toasts']}")
        assert Path(state["screenshot"]).stat().st_size > 20_000, state["screenshot"]
    assert problems == []
    grid = next(c["text"] for c in results["lapor-laporan-tindak-lanjut"]["charts"] if c["viz"] == "pivot_table_v2")
    blitar = next(line for line in grid.splitlines() if line.startswith("Kabupaten Blitar"))
    assert blitar.rstrip().endswith("BELUM ADA")  # the last month shown, April 2021
    overview = " ".join(results["lapor-ringkasan-provinsi"]["markdown"])
    assert "nasional tidak tersedia" in overview.lower()
