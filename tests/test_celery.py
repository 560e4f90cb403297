"""`lapor_nightly` under the production executor, the way docker-compose.yml configures it,
natively on this machine: Redis (Debian's `redis-server`, installed here when missing) on
127.0.0.1 as the Celery broker, Airflow's metadata and Celery's results in PostgreSQL, the
api-server, scheduler, dag-processor and triggerer, and two `airflow celery worker` processes
with different names. The Airflow settings are the compose's own: `docker/airflow.env`, the
file every Airflow service of the compose reads (`env_file`), used as written except for the
container paths and host names `lapor.scheduler.celery_env` replaces (CELERY_REPLACED), the
values the compose takes from `.env` (secrets, URLs, CELERY_FROM_DOT_ENV) and what processes
side by side on one machine need apart (CELERY_NATIVE_ONLY: log folder, health-check and log
server ports, worker names). The test checks that it sets no other Airflow setting.

One night (2021-05-27) of eight agencies, triggered through the REST API (`/auth/token`, the
simple auth manager's admin, as in the compose), with the pool `lapor_sources` at 2 slots
(`LAPOR_SOURCES_POOL_SLOTS`, as an operator sets it in `.env`). One agency delivers through
its export API (registry `source` http), served by the test: the API holds that agency's
first request, so its `ingest_agency` task is certainly running — waiting for its export —
when the worker running it is killed with SIGKILL (its whole process tree, as when a
container dies). Asserted: the run succeeds; ingest tasks ran on both workers (task instance
`hostname`); no more than 2 ingest tasks ran at once, and 2 did; the killed task's first try
ran on the killed worker and its retry on the other one; every table and view of the marts
equals that of an undisturbed run of the same night (`lapor run`, in its own warehouse database
given the same reporter salt).

A lost worker is noticed by the scheduler after `[scheduler] task_instance_heartbeat_timeout`
(60 s in docker/airflow.env, the compose's value) and the task is retried after its
retry_delay (30 s): the kill costs the run about a minute and a half.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from lapor.scheduler import (CELERY_FROM_DOT_ENV, CELERY_NATIVE_ONLY, CELERY_REPLACED, SHARED_ENV_FILE,
                             LocalAirflow, free_port, read_env_file, tail)
from lapor.settings import DAG_ID, SOURCES_POOL

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = Path("/usr/bin/redis-server")
DAY = date(2021, 5, 27)
LOGICAL_DATE = "2021-05-27T02:00:00+07:00"
AGENCIES = 8          # the first eight of the shipped registry
HTTP_AGENCY_ROW = 7   # ... the last of which delivers through its export API
POOL_SLOTS = 2
SCALE = 0.1
WORKERS = ("lapor-a", "lapor-b")
TOKEN = "celery-test-" + secrets.token_urlsafe(12)
RUN_TIMEOUT = 7 * 60
DATABASES = {"meta": "celery_airflow_meta", "warehouse": "celery_lapor", "reference": "celery_lapor_ref"}


# --- Redis: Debian's package, installed when missing (as the report tests install Chromium) --

def install_redis() -> Path:
    if REDIS_SERVER.exists():
        return REDIS_SERVER
    if os.geteuid() != 0:
        raise RuntimeError(f"{REDIS_SERVER} is missing and the tests do not run as root, so they cannot "
                           "install it: run `apt-get install -y redis-server` as root (Debian) first")
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{REDIS_SERVER} is missing and there is no apt-get to install Debian's `redis-server`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait_for_lock = ["-o", "DPkg::Lock::Timeout=600"]  # another apt-get may be running
    for command in (["apt-get", *wait_for_lock, "update"],
                    ["apt-get", *wait_for_lock, "install", "-y", "--no-install-recommends", "redis-server"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed with exit code {done.returncode} while installing "
                               f"Redis for the Celery test:\n{(done.stderr or done.stdout)[-3000:]}")
    if not REDIS_SERVER.exists():
        raise RuntimeError(f"apt-get installed `redis-server` but {REDIS_SERVER} is still missing")
    return REDIS_SERVER


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A Redis of its own on 127.0.0.1 with a password, as the compose's broker; stopped afterwards."""
    try:
        binary = install_redis()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"Redis is needed as the Celery broker and could not be installed: {exc}", pytrace=False)
    folder = tmp_path_factory.mktemp("redis")
    port, password = free_port(), secrets.token_urlsafe(16)
    log = folder / "redis.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
             "--save", "", "--appendonly", "no", "--dir", str(folder), "--daemonize", "no"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    try:
        import redis

        deadline = time.monotonic() + 30
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=2).ping():
                    break
            except redis.exceptions.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start:\n{tail(log)}")
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture()
def databases(warehouse, drop_database):
    with psycopg.connect(warehouse, autocommit=True) as conn:
        for name in DATABASES.values():
            drop_database(name)
            conn.execute(f'create database "{name}"')
    server = warehouse.rsplit("/", 1)[0]
    yield {key: f"{server}/{name}" for key, name in DATABASES.items()}
    for name in DATABASES.values():
        drop_database(name)


# --- helpers ---------------------------------------------------------------------------------

def registry_and_drop(settings, folder: Path, export_url: str) -> tuple[Path, Path, list[str], str]:
    """The first AGENCIES agencies of the shipped registry, the last of them on the export API,
    and their sample drop folder. Returns (registry, drop folder, codes in order, http agency)."""
    from lapor.dev.generate import generate_sample_exports
    from lapor.registry import load_registry

    lines = settings.registry_path.read_text().splitlines(keepends=True)
    header, rows = lines[0], lines[1:AGENCIES + 1]
    code = rows[HTTP_AGENCY_ROW].split(",", 1)[0]
    assert rows[HTTP_AGENCY_ROW].rstrip("\r\n").endswith(",folder,")
    rows[HTTP_AGENCY_ROW] = rows[HTTP_AGENCY_ROW].rstrip("\r\n")[:-len("folder,")] + f"http,{export_url}\n"
    registry = folder / "agencies.csv"
    registry.write_text(header + "".join(rows))
    agencies = load_registry(registry)
    drop = folder / "exports"
    generate_sample_exports(drop, agencies=agencies, scale=SCALE)
    return registry, drop, [a.agency_code for a in agencies], code


def ping_workers(airflow: LocalAirflow, names: list[str], timeout: float = 180) -> None:
    """The compose's worker health check (`celery inspect ping -d <name>@<host>`) until every one answers."""
    celery = str(Path(sys.executable).with_name("celery"))
    host = socket.gethostname()
    deadline = time.monotonic() + timeout
    while True:
        airflow.check_alive()
        done = subprocess.run([celery, "--app", "airflow.providers.celery.executors.celery_executor.app",
                               "inspect", "ping", "--timeout", "5", "-d", ",".join(f"{n}@{host}" for n in names)],
                              env=airflow.env, capture_output=True, text=True, timeout=120)
        if done.returncode == 0 and all(f"{n}@{host}" in done.stdout for n in names):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the workers did not answer celery inspect ping:\n{done.stdout}{done.stderr}\n"
                                 f"{airflow.diagnostics()}")
        time.sleep(2)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
        running += step
        peak = max(peak, running)
    return peak


def marts_fingerprints(url: str) -> dict[str, str]:
    """Every table and view of the schema marts, as tests/test_seed_scenario.py fingerprints its marts."""
    out = {}
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1")]
        for name in names:
            rows = conn.execute(f'select t::text from marts."{name}" t order by 1').fetchall()
            out[name] = hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest() + f" ({len(rows)} rows)"
    return out


def same_salt(settings, reference: str, target: str) -> None:
    """The warehouse `target` set up with the reporter salt of `reference`: each warehouse draws
    its own (ref.secrets, once), and fct_complaints.reporter_key is a hash salted with it."""
    import dataclasses

    from lapor.warehouse import ensure_schema

    ensure_schema(target, dataclasses.replace(settings, warehouse_url=target))
    with psycopg.connect(reference) as conn:
        (salt,) = conn.execute("select value from ref.secrets where name = 'reporter_salt'").fetchone()
    with psycopg.connect(target) as conn:
        conn.execute("update ref.secrets set value = %s where name = 'reporter_salt'", (salt,))


def marts_difference(reference: str, disturbed: str, tables: list[str], rows: int = 5) -> str:
    """Some rows of each differing mart that only one of the two warehouses holds."""
    lines = []
    for table in tables:
        found = []
        for url in (reference, disturbed):
            with psycopg.connect(url) as conn:
                found.append({r[0] for r in conn.execute(f"select t::text from marts.{table} t")})
        lines.append(f"marts.{table}: {len(found[0] - found[1])} rows only in the undisturbed run, "
                     f"{len(found[1] - found[0])} only in the disturbed one")
        lines += [f"  undisturbed: {r}" for r in sorted(found[0] - found[1])[:rows]]
        lines += [f"  disturbed:   {r}" for r in sorted(found[1] - found[0])[:rows]]
    return "\n".join(lines)


def failure_report(airflow: LocalAirflow, run_id: str, state: str, task_instances: list[dict]) -> str:
    lines = [f"run {run_id} ended {state!r} (limit {RUN_TIMEOUT} s)"]
    unhappy = [ti for ti in task_instances if ti["state"] not in {"success", "skipped"}]
    for ti in unhappy:
        lines.append(f"  {ti['task_id']}[{ti['map_index']}]: {ti['state']} try {ti['try_number']} on {ti['hostname']}")
    for path in airflow.task_logs(DAG_ID, run_id):
        if any(f"task_id={ti['task_id']}" in str(path) for ti in unhappy):
            lines.append(f"----- task log {path} -----\n{tail(path, 2000)}")
    lines.append(airflow.diagnostics())
    return "\n".join(lines)


# --- the test ----------------------------------------------------------------------------------

def test_the_test_uses_the_compose_airflow_configuration(tmp_path):
    """Every Airflow setting of the native Celery components is the compose's: the shared file's
    value unless named in CELERY_REPLACED, a key the compose sets from .env, or native-only."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    common = compose["x-airflow-common"]
    assert common["env_file"] == ["./docker/airflow.env"]
    compose_keys = {k for k in common["environment"] if k.startswith("AIRFLOW__")}
    assert set(CELERY_FROM_DOT_ENV) == compose_keys
    shared = read_env_file(SHARED_ENV_FILE)
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    airflow = LocalAirflow.configure_celery(tmp_path / "airflow", "postgresql://u:p@127.0.0.1:1/db",
                                            "redis://:p@127.0.0.1:2/0", base={"PATH": "/usr/bin"})
    env = airflow.env
    settings = {k for k in env if k.startswith("AIRFLOW__")}
    assert settings - set(shared) - set(CELERY_FROM_DOT_ENV) - set(CELERY_NATIVE_ONLY) == set()
    changed = {k for k, v in shared.items() if env[k] != v}
    assert changed == set(CELERY_REPLACED)


def test_celery_workers_run_the_night_and_a_killed_worker_costs_nothing(
        databases, redis_url, settings, tmp_path):
    from lapor.dev.export_server import ExportServer

    server = ExportServer(tmp_path / "exports", TOKEN, timeout_delay=600)  # a held request waits up to 600 s
    with server:
        registry, drop, codes, http_agency = registry_and_drop(settings, tmp_path, server.url)
        pipeline_env = {k: v for k, v in os.environ.items()
                        if not k.startswith("AIRFLOW") and k not in ("LAPOR_SMTP_URL", "LAPOR_EXPORTS_DIR")}
        pipeline_env.update({"LAPOR_REGISTRY": str(registry), f"LAPOR_HTTP_TOKEN_{http_agency.replace('.', '_')}": TOKEN,
                             "LAPOR_SOURCES_POOL_SLOTS": str(POOL_SLOTS)})

        # the undisturbed night, in its own warehouse and LAPOR_HOME, while the stack starts
        reference_log = tmp_path / "reference.log"
        with open(reference_log, "wb") as out:
            reference = subprocess.Popen(
                [str(Path(sys.executable).with_name("lapor")), "run", "--date", DAY.isoformat(), "--exports", str(drop)],
                env={**pipeline_env, "LAPOR_HOME": str(tmp_path / "reference-home"),
                     "LAPOR_WAREHOUSE_URL": databases["reference"]},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        airflow = LocalAirflow.configure_celery(
            tmp_path / "airflow", databases["meta"], redis_url,
            base={**pipeline_env, "LAPOR_HOME": str(tmp_path / "celery-home"),
                  "LAPOR_WAREHOUSE_URL": databases["warehouse"]},
            extra={
                # Not a path, host or port, but needed: this test triggers its one run itself;
                # unpausing must not also start the nightly schedule's run for today's date.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            })
        started = time.monotonic()
        try:
            with airflow:  # every component's process group (and task processes) ended whatever happens
                airflow.init()
                airflow.start(["api-server", "scheduler", "dag-processor", "triggerer"])
                for name in WORKERS:
                    airflow.start_worker(name)
                airflow.wait_until_ready()
                api = airflow.api()
                api.wait_for_dag(DAG_ID, alive=airflow.check_alive)
                assert api.import_errors() == []
                pool = next(p for p in api.get("/api/v2/pools")["pools"] if p["name"] == SOURCES_POOL)
                assert pool["slots"] == POOL_SLOTS
                ping_workers(airflow, list(WORKERS))
                ready = time.monotonic()

                assert reference.wait(timeout=RUN_TIMEOUT) == 0, tail(reference_log, 5000)
                reference_done = time.monotonic()
                expected = marts_fingerprints(databases["reference"])
                same_salt(settings, databases["reference"], databases["warehouse"])
                server.requests.clear()
                server.faults = {http_agency: ["timeout"]}  # held: the export API "hangs" on its first request

                api.unpause(DAG_ID)
                run_id = api.trigger(DAG_ID, LOGICAL_DATE, conf={"exports_dir": str(drop)})
                map_index = codes.index(http_agency)
                deadline = time.monotonic() + RUN_TIMEOUT
                while not server.requests_for(http_agency):
                    airflow.check_alive()
                    assert api.run_state(DAG_ID, run_id) not in {"success", "failed"}
                    assert time.monotonic() < deadline, failure_report(airflow, run_id, "running",
                                                                       api.task_instances(DAG_ID, run_id))
                    time.sleep(0.5)
                held = next(ti for ti in api.task_instances(DAG_ID, run_id)
                            if ti["task_id"] == "ingest_agency" and ti["map_index"] == map_index)
                assert held["state"] == "running" and held["try_number"] == 1, held
                killed = next(n for n in WORKERS if held["hostname"].startswith(f"{n}@"))
                survivor = next(n for n in WORKERS if n != killed)
                killed_pids = airflow.kill(killed)
                killed_at = time.monotonic()

                state = api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT, alive=airflow.check_alive)
                task_instances = api.task_instances(DAG_ID, run_id)
                assert state == "success", failure_report(airflow, run_id, state, task_instances)
                finished = time.monotonic()
                tries = {ti["map_index"]: api.get(
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/ingest_agency/{ti['map_index']}/tries"
                )["task_instances"] for ti in task_instances if ti["task_id"] == "ingest_agency"}
        finally:
            if reference.poll() is None:
                os.killpg(reference.pid, signal.SIGKILL)
                reference.wait(timeout=30)
    print(f"\ncelery: stack ready in {ready - started:.0f} s, reference run done at {reference_done - started:.0f} s, "
          f"worker {killed} killed {killed_at - reference_done:.0f} s after the trigger ({len(killed_pids)} processes), "
          f"run succeeded {finished - killed_at:.0f} s after the kill; total {finished - started:.0f} s")

    ingests = [ti for ti in task_instances if ti["task_id"] == "ingest_agency"]
    assert len(ingests) == AGENCIES and all(ti["state"] == "success" for ti in ingests)
    assert {ti["pool"] for ti in ingests} == {SOURCES_POOL}
    host = socket.gethostname()
    names = {f"{n}@{host}": n for n in WORKERS}

    # mapped ingest tasks ran on both workers
    succeeded_on = {names[t["hostname"]] for ts_ in tries.values() for t in ts_ if t["state"] == "success"}
    assert succeeded_on == set(WORKERS), tries

    # the killed task: first try on the killed worker, failed when its heartbeat stopped; the retry
    # on the survivor succeeded
    held_tries = sorted(tries[map_index], key=lambda t: t["try_number"])
    assert [t["try_number"] for t in held_tries] == [1, 2], held_tries
    assert names[held_tries[0]["hostname"]] == killed and held_tries[0]["state"] != "success", held_tries
    assert names[held_tries[1]["hostname"]] == survivor and held_tries[1]["state"] == "success", held_tries
    final = next(ti for ti in ingests if ti["map_index"] == map_index)
    assert final["try_number"] == 2 and names[final["hostname"]] == survivor
    assert len(server.requests_for(http_agency)) >= 2  # the held request, then the retry's own

    # the pool lapor_sources bounded the ingest tasks: never more than its 2 slots at once, and 2 did
    intervals = [(ts(t["start_date"]), ts(t["end_date"])) for ts_ in tries.values() for t in ts_
                 if t["start_date"] and t["end_date"]]
    assert len(intervals) == AGENCIES + 1
    assert most_at_once(intervals) == POOL_SLOTS, sorted(intervals)

    # the night's marts are those of the undisturbed run
    got = marts_fingerprints(databases["warehouse"])
    assert {"fct_complaints", "fct_backlog_daily", "agency_scorecard"} <= set(expected)
    assert got == expected, marts_difference(databases["reference"], databases["warehouse"],
                                             [t for t in expected if got.get(t) != expected[t]])
    with psycopg.connect(databases["warehouse"]) as conn:
        statuses = dict(conn.execute("select agency_code, status from quality.ingest_runs where run_date = %s",
                                     (DAY,)).fetchall())
    assert statuses == {code: "done" for code in codes}
