"""`lapor bench` (`make bench`): time every stage of the pipeline at a named scale.

    lapor bench [tiny|small|jatim|national] [--repeat N] [--dag-repeat N] [--home DIR]
                [--regenerate] [--keep-server] [--quiet]

The scale comes from the first argument (or `--scale`), else `BENCH_SCALE`, else `small`.
(Options alone need a `--` first: `lapor bench -- --repeat 5`, because of how the `lapor`
parser hands the arguments on.) The benchmark works in
its own folder, `LAPOR_HOME/bench-<scale>` (or `--home`): its own drop folder, landing
zone, outbox, its own embedded PostgreSQL cluster (or, with `LAPOR_WAREHOUSE_URL`, its
own database `lapor_bench_<scale>` on that server) and its own agency registry, so the
demo's data is never touched. The database is dropped and created again for every
repetition.

Stages, in the order a new warehouse lives them (D0 = the first day, D1 = the next):

    generate        the drop folder (once; reused while the scale and seed are the same)
    prepare         pipeline.prepare(D0): schema, calendar, registry
    read            the readers alone over every D0 file, no database
    land            landing.land() of every D0 file (copy, sha256, fsync)
    load            load.load_complaints() of every landed D0 file (the project's COPY loader)
    plain COPY      the same CSV files with a plain `COPY … FROM STDIN (FORMAT csv)` into an
                    equivalent table (same column types and indexes), one transaction per file
    dbt build full  `dbt build --full-refresh`, horizon D0
    ingest D1       pipeline.prepare(D1) and pipeline.ingest_agency(D1, …) for every agency
    dbt build D1    pipeline.transform(D1): the nightly build after one more day
    checks          pipeline.check(D1)
    e-mail          pipeline.alert(D1) into the outbox
    report          pipeline.report(D1)
    DAG parse       what the scheduler pays for dags/lapor_nightly.py on every DAG-processor loop:
                    Airflow's own `_parse_file` (stability check, DagBag import, serialization)
                    in a child forked from a process that has imported what the DAG processor
                    has (airflow.dag_processing.processor and the file's top-level `airflow.*`
                    imports), as DagFileProcessorProcess does; median of --dag-repeat
    DAG import      for information: the same file imported in a fresh interpreter, i.e. mostly
                    the cost of importing Airflow itself (paid once per DAG-processor start)

Each stage runs in a fresh child process (multiprocessing, spawn); its time is measured in
the child around the stage's work (including the imports the stage does itself, as an
Airflow task would), and its peak memory is the child's RSS high-water mark
(`getrusage(RUSAGE_SELF).ru_maxrss`). PostgreSQL's own processes are not counted. The read
and load stages are also run for the smallest and the largest file alone, each in its own
process, to show whether ingestion memory grows with file size.

The table is printed and written, with every repetition's figures, to
`<bench home>/bench-<scale>.txt` and `.json`. The figures are medians of the repetitions.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from lapor.dev.generate import DAY0, DAY1, MANIFEST, SCALES, Scale
from lapor.settings import DAGS_DIR, TIMEZONE, Settings

DAG_FILE = DAGS_DIR / "lapor_nightly.py"

# (key, label) in the order of the table; sub-rows are indented under their stage.
ROWS = [
    ("generate", "generate (once)"),
    ("prepare", "prepare"),
    ("read", "read (readers, no DB)"),
    ("read_smallest", "  read: smallest file"),
    ("read_largest", "  read: largest file"),
    ("land", "land"),
    ("load", "load (project loader)"),
    ("load_smallest", "  load: smallest file"),
    ("load_largest", "  load: largest file"),
    ("copy", "plain COPY (same indexes)"),
    ("copy_noindex", "  plain COPY, no indexes"),
    ("dbt_full", "dbt build full"),
    ("dbt_docs_full", "dbt docs after the full build"),
    ("ingest_d1", "ingest one more day"),
    ("dbt_incremental", "dbt build one more day"),
    ("dbt_docs", "dbt docs (the night)"),
    ("checks", "checks"),
    ("email", "e-mail (outbox)"),
    ("report", "report"),
    ("night_stages", "night, stage by stage"),
    ("night_dag", "night through the DAG"),
    ("dag_processor", "DAG parse (DAG processor)"),
    ("dag_import", "DAG import (fresh process)"),
    # recorded by runs before the DAG-processor measurement: the file imported after
    # `import airflow.sdk` etc. in a fresh interpreter; shown when reading such a record
    ("dag_parse", "DAG parse (Airflow loaded)"),
]
DAG_ROWS = ("dag_processor", "dag_import", "dag_parse")
# a night of D1 stage by stage, each in its own process: ingest (with prepare) to report
NIGHT_STAGES = ("ingest_d1", "dbt_incremental", "dbt_docs", "checks", "email", "report")
LABELS = dict(ROWS)
COPY_COLUMNS = ("tracking_id", "agency_code", "submitted_at", "title", "content", "category", "classification",
                "is_supervisory", "channel", "status_text", "dispositioned_at", "first_followup_at", "closed_at",
                "last_activity_at", "is_confidential", "is_anonymous", "reporter_name", "reporter_phone",
                "reporter_email")
COPY_TABLE = f"""
create table bench_copy.complaints (
    agency_code text not null, export_day date not null default date '{DAY0.isoformat()}',
    tracking_id text not null, status_text text, submitted_at timestamptz not null,
    dispositioned_at timestamptz, first_followup_at timestamptz, closed_at timestamptz,
    last_activity_at timestamptz, title text, content text, category text, classification text,
    channel text, is_confidential boolean, is_anonymous boolean, is_supervisory boolean,
    reporter_name text, reporter_phone text, reporter_email text)"""
COPY_INDEXES = ("create index on bench_copy.complaints (agency_code, export_day)",
                "create index on bench_copy.complaints (tracking_id, export_day)")

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Running a stage in a child process
# --------------------------------------------------------------------------------------
def _child(fn: Callable[..., dict], kwargs: dict, log_path: str) -> dict:
    """In the spawned child: output to the log, run, time, and read the RSS high-water mark."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    started = time.perf_counter()
    out = fn(**kwargs)
    seconds = time.perf_counter() - started
    out.setdefault("seconds", seconds)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out["peak_kb"] = own.ru_maxrss  # KiB on Linux
    out["client_cpu_s"] = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return out


def server_cpu_seconds(pgdata: Path | None) -> float | None:
    """CPU seconds used so far by the PostgreSQL cluster: the postmaster and every process it
    has reaped (backends, autovacuum workers), from /proc. None when not measurable."""
    if pgdata is None:
        return None
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        # fields after the command: state is [0]; utime, stime, cutime, cstime are [11:15]
        return sum(int(v) for v in fields[11:15]) / ticks
    except (OSError, ValueError, IndexError):
        return None


class Runner:
    def __init__(self, log_path: Path, verbose: bool = True, partial: Path | None = None,
                 pgdata: Path | None = None):
        self.log_path = log_path
        self.verbose = verbose
        self.partial = partial        # every stage's result is appended here as it finishes
        self.pgdata = pgdata          # the embedded cluster, for its CPU time

    def run(self, name: str, fn: Callable[..., dict], optional: bool = False, **kwargs) -> dict:
        """Run one stage in a fresh process. An optional stage that fails is recorded, not raised."""
        load_before = os.getloadavg()[0]
        server_before = server_cpu_seconds(self.pgdata)
        with ProcessPoolExecutor(max_workers=1, mp_context=_spawn()) as pool:
            try:
                result = pool.submit(_child, fn, kwargs, str(self.log_path)).result()
                result["loadavg"] = round(max(load_before, os.getloadavg()[0]), 2)
            except Exception as exc:
                if not optional:
                    raise
                error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                if self.verbose:
                    print(f"[bench] {LABELS.get(name, name).strip():<30} FAILED: {error} (see {self.log_path})",
                          file=sys.stderr, flush=True)
                return {"rows": 0, "seconds": float("nan"), "peak_kb": float("nan"), "error": error}
        if server_before is not None:
            time.sleep(0.3)  # the stage's backends have exited: let the postmaster reap them
            server_after = server_cpu_seconds(self.pgdata)
            if server_after is not None:
                result["server_cpu_s"] = server_after - server_before
        if self.partial is not None:
            with open(self.partial, "a") as handle:
                handle.write(json.dumps({"stage": name, "at": datetime.now(timezone.utc).isoformat(),
                                         **{k: v for k, v in result.items() if k != "landed"}},
                                        default=str) + "\n")
        if self.verbose:
            server = result.get("server_cpu_s")
            print(f"[bench] {LABELS.get(name, name).strip():<30} {result['rows']:>12,} rows "
                  f"{result['seconds']:>9.2f} s  {result['peak_kb'] / 1024:>7.1f} MB  cpu "
                  f"{result['client_cpu_s']:.1f} s + server {'-' if server is None else f'{server:.1f}'} s  "
                  f"load {result.get('loadavg', 0):.1f}", file=sys.stderr, flush=True)
        return result


def _spawn():
    import multiprocessing

    return multiprocessing.get_context("spawn")


# --------------------------------------------------------------------------------------
# The stages (module-level: the spawned child imports them by name)
# --------------------------------------------------------------------------------------
def stage_generate(out_dir: str, scale: Scale, seed: int, settings: Settings) -> dict:
    from lapor.dev.generate import generate

    manifest = generate(Path(out_dir), scale, seed=seed, settings=settings)
    return {"rows": manifest["rows_day0"] + manifest["rows_day1"], "manifest": manifest}


def stage_prepare(settings: Settings, day: date) -> dict:
    from lapor import pipeline

    prepared = pipeline.prepare(day, settings)
    return {"rows": len(prepared["agencies"])}


def _source(settings: Settings, code: str, day: date):
    from lapor.sources import list_agency_files

    source, _ = list_agency_files(settings.exports_dir, code, day)
    if source is None:
        raise RuntimeError(f"no export of {code} for {day} in {settings.exports_dir}")
    return source


def stage_read(settings: Settings, codes: list[str], day: date) -> dict:
    from lapor.readers import Reject, TextRow, read_complaints

    rows = rejects = size = 0
    for code in codes:
        source = _source(settings, code, day)
        size += source.path.stat().st_size
        for item in read_complaints(source.path):  # decoded into text rows; the loader types them
            if isinstance(item, Reject):
                rejects += 1
            elif isinstance(item, TextRow):
                rows += 1
    return {"rows": rows, "rejects": rejects, "bytes": size}


def stage_land(settings: Settings, codes: list[str], day: date) -> dict:
    from lapor.landing import land

    landed, size = [], 0
    for code in codes:
        kept = land(_source(settings, code, day), settings.landing_dir)
        size += kept.size_bytes
        landed.append({"agency_code": code, "sha256": kept.sha256, "size_bytes": kept.size_bytes,
                       "path": str(kept.path), "relpath": kept.relpath})
    return {"rows": 0, "bytes": size, "landed": landed}


def stage_load(settings: Settings, landed: list[dict], day: date) -> dict:
    """The project's loader over landed files, as ingest_agency calls it."""
    from lapor.landing import LandedFile
    from lapor.load import load_complaints
    from lapor.warehouse import connect

    rows = rejected = 0
    outcomes: dict[str, int] = {}
    with connect(settings.warehouse_url, autocommit=True) as conn:
        for item in landed:
            kept = LandedFile(_source(settings, item["agency_code"], day), item["sha256"], item["size_bytes"],
                              Path(item["path"]), item["relpath"])
            result = load_complaints(conn, kept, day)
            rows += result.rows_loaded
            rejected += result.rows_rejected
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    return {"rows": rows, "rejects": rejected, "outcomes": outcomes, "bytes": sum(i["size_bytes"] for i in landed)}


def stage_copy(url: str, paths: list[str], indexes: bool) -> dict:
    """A plain COPY of the CSV files into an equivalent table, one transaction per file."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists bench_copy")
        conn.execute("drop table if exists bench_copy.complaints")
        conn.execute(COPY_TABLE)
        for statement in COPY_INDEXES if indexes else ():
            conn.execute(statement)
        conn.execute(f"set timezone = '{TIMEZONE}'")  # the CSV's times have no zone: WIB
        conn.commit()
        statement = f"copy bench_copy.complaints ({', '.join(COPY_COLUMNS)}) from stdin with (format csv, header true)"
        rows = size = 0
        started = time.perf_counter()
        for path in paths:
            with conn.cursor() as cursor:
                with cursor.copy(statement) as copy, open(path, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        copy.write(chunk)
                        size += len(chunk)
                rows += cursor.rowcount
            conn.commit()
        seconds = time.perf_counter() - started
        table_bytes = conn.execute("select pg_total_relation_size('bench_copy.complaints')").fetchone()[0]
        conn.execute("drop table bench_copy.complaints")
        conn.commit()
    return {"rows": rows, "seconds": seconds, "bytes": size, "table_bytes": table_bytes}


def _dbt_details(settings: Settings) -> dict:
    path = settings.dbt_dir / "target" / "run_results.json"
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    nodes = sorted(((r["unique_id"], round(r.get("execution_time") or 0.0, 2)) for r in results),
                   key=lambda n: -n[1])
    return {"nodes": len(results), "slowest_nodes": nodes[:8],
            "node_seconds_total": round(sum(t for _, t in nodes), 2)}


def _count(settings: Settings, sql: str, params: tuple = ()) -> int:
    from lapor.warehouse import connect

    with connect(settings.warehouse_url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def stage_dbt_full(settings: Settings) -> dict:
    from lapor.transform import build

    # as `lapor dbt -- build --full-refresh` would, but recording the seeds it loaded as a nightly
    # build does (the night after it leaves them out, as every night after the first does)
    build(settings.warehouse_url, settings, unit_tests=False, full_refresh=True)
    return {"rows": _count(settings, "select count(*) from raw.complaints"), "dbt": _dbt_details(settings)}


def stage_ingest(settings: Settings, codes: list[str], day: date) -> dict:
    from lapor import pipeline

    pipeline.prepare(day, settings)
    rows = 0
    for code in codes:
        outcome = pipeline.ingest_agency(day, code, settings.exports_dir, settings)
        rows += sum(f.get("rows_loaded", 0) for f in outcome["files"])
    return {"rows": rows}


def stage_dbt_incremental(settings: Settings, day: date) -> dict:
    """The nightly `dbt build` after one more day (the run's own `docs generate` is timed apart)."""
    import psycopg

    from lapor.transform import build

    # as the nightly run does (no unit tests); the run date D1 was recorded by "ingest one more day"
    build(settings.warehouse_url, settings, unit_tests=False)
    with psycopg.connect(settings.warehouse_url) as conn:
        row = conn.execute("select is_full, full_rebuild_reason from intermediate.int_build_window").fetchone()
        changed = conn.execute("select count(*) from intermediate.int_changed_complaints").fetchone()[0]
        window = {"is_full": row[0], "full_rebuild_reason": row[1], "changed_complaints": changed}
    return {"rows": _count(settings, "select count(*) from raw.complaints"),
            "day_rows": _count(settings, "select count(*) from raw.complaints where export_day = %s", (day,)),
            "build_window": window, "dbt": _dbt_details(settings)}


def stage_dbt_docs(settings: Settings) -> dict:
    """The nightly run's docs step: `dbt docs generate` only when the project or the
    warehouse's schema changed since the last generation (lapor.transform.generate_docs)."""
    from lapor.transform import docs_index, generate_docs

    index = docs_index(settings)
    before = index.stat().st_mtime_ns if index.is_file() else None
    generate_docs(settings.warehouse_url, settings)
    return {"rows": 0, "generated": index.stat().st_mtime_ns != before}


def stage_airflow_setup(settings: Settings) -> dict:
    """Airflow's metadata database for the DAG night (`airflow db migrate`, once per bench
    folder): a deployment's, not a night's cost; not in the table."""
    from lapor import runner

    runner.configure_airflow(settings)
    runner.ensure_metadata_db(settings)
    return {"rows": 0}


def stage_night_dag(settings: Settings, day: date) -> dict:
    """Day D1's whole night through Airflow, as `lapor run D1` runs it: the DAG loaded from the
    DAGs folder with DagBag and run with `dag.test()` (every task, mapped per agency, in one
    process), on the warehouse as the full build of D0 left it."""
    from lapor import runner

    runner.configure_airflow(settings)
    outcome = runner.run_date(settings, day, log_file=settings.logs_dir / "night-dag.log")
    if not outcome.ok:
        raise RuntimeError(f"the DAG night of {day} ended {outcome.state}; failed: {', '.join(outcome.failed_tasks)}"
                           f" (see {settings.logs_dir / 'night-dag.log'})")
    return {"rows": _count(settings, "select count(*) from raw.complaints where export_day = %s", (day,)),
            "tasks": outcome.state}


def stage_checks(settings: Settings, day: date) -> dict:
    from lapor import pipeline

    summary = pipeline.check(day, settings)
    rows = _count(settings, "select count(*) from quality.check_results where run_date = %s", (day,))
    return {"rows": rows, "flagged": {k: len(v) for k, v in summary["flagged"].items()}}


def stage_email(settings: Settings, day: date) -> dict:
    from lapor import pipeline

    outcome = pipeline.alert(day, settings)
    return {"rows": len(outcome["sent"]), "transport": outcome["transport"]}


def stage_report(settings: Settings, day: date) -> dict:
    from lapor import pipeline

    path = Path(pipeline.report(day, settings))
    return {"rows": _count(settings, "select count(*) from ref.agencies"), "bytes": path.stat().st_size}


# --------------------------------------------------------------------------------------
# DAG import time
# --------------------------------------------------------------------------------------
_DAG_IMPORT_PROBE = r"""
import json, resource, sys, time
started = time.perf_counter()
import airflow.sdk  # what any DAG file pays first in a fresh interpreter: Airflow itself
airflow_loaded = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("lapor_nightly_probe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
done = time.perf_counter()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": done - started, "airflow_seconds": airflow_loaded - started,
                  "peak_kb": usage.ru_maxrss, "client_cpu_s": usage.ru_utime + usage.ru_stime}))
"""

# The DAG processor (airflow/dag_processing/processor.py): DagFileProcessorProcess.start()
# pre-imports the file's top-level `airflow.*` imports in the long-lived manager process
# (`_pre_import_airflow_modules`; the manager has called gc.freeze() before its loop), then
# forks a child that runs `_parse_file`: the DAG-version
# stability check, a BundleDagBag of the one file (the import), and the serialization sent back
# to the manager. This probe does the same, `repeat` + 1 times (the first not counted).
_DAG_PROCESSOR_PROBE = r"""
import json, os, resource, sys, time
from pathlib import Path
import structlog
path, repeat = sys.argv[1], int(sys.argv[2])
log = structlog.get_logger(logger_name="lapor.bench")
try:
    import airflow.dag_processing.manager  # the process `airflow dag-processor` runs
    from airflow.dag_processing.processor import DagFileParseRequest, _parse_file, _pre_import_airflow_modules
except ImportError:  # another Airflow version: a DagBag and the serialization, as _parse_file does
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    def parse():
        bag = DagBag(dag_folder=path)
        return [DagSerialization.to_dict(d) for d in bag.dags.values()], bag.import_errors
else:
    _pre_import_airflow_modules(path, log)

    def parse():
        result = _parse_file(DagFileParseRequest(file=path, bundle_path=Path(path).parent,
                                                 bundle_name="lapor-bench", callback_requests=[]), log)
        return result.serialized_dags, result.import_errors
import gc
gc.freeze()  # DagFileProcessorManager.before_run(): no copy-on-write of its objects in the forked parsers
runs = []
for i in range(repeat + 1):
    read_end, write_end = os.pipe()
    forked = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "client"  # as _parse_file_entrypoint does
        started = time.perf_counter()
        dags, errors = parse()
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        os.write(write_end, json.dumps({"seconds": seconds, "dags": len(dags), "import_errors": errors,
                                        "peak_kb": usage.ru_maxrss,
                                        "client_cpu_s": usage.ru_utime + usage.ru_stime}).encode())
        os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 1 << 16):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    run = json.loads(data)
    run["process_seconds"] = time.perf_counter() - forked  # fork, parse, result back, exit
    if i:
        runs.append(run)
print(json.dumps(runs))
"""


def dag_import_times(settings: Settings, repeat: int) -> dict[str, dict]:
    """The DAG file's parse cost in the DAG processor, and its import in a fresh interpreter."""
    from lapor.runner import airflow_env

    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **airflow_env(settings)}
    repeat = max(1, repeat)

    def probe(code: str, *args: str) -> str:
        proc = subprocess.run([sys.executable, "-c", code, str(DAG_FILE), *args], env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"parsing {DAG_FILE} failed:\n{proc.stderr[-3000:]}")
        return proc.stdout.strip().splitlines()[-1]

    def summary(runs: list[dict], **extra) -> dict:
        return {"rows": 0, "seconds": statistics.median(r["seconds"] for r in runs),
                "peak_kb": statistics.median(r["peak_kb"] for r in runs),
                "client_cpu_s": statistics.median(r["client_cpu_s"] for r in runs),
                "runs": [round(r["seconds"], 4) for r in runs], **extra}

    # the parse first: the fresh imports' first run writes airflow.cfg and .pyc files
    parses = json.loads(probe(_DAG_PROCESSOR_PROBE, str(repeat)))
    for run in parses:
        if run["import_errors"] or not run["dags"]:
            raise RuntimeError(f"the DAG processor could not parse {DAG_FILE}: {run['import_errors']}")
    out = {"dag_processor": summary(parses, process_seconds=statistics.median(r["process_seconds"] for r in parses))}
    imports = []
    for i in range(repeat + (1 if repeat > 1 else 0)):  # one uncounted warm-up
        started = time.perf_counter()
        run = json.loads(probe(_DAG_IMPORT_PROBE))
        run["process_seconds"] = time.perf_counter() - started
        if repeat == 1 or i:
            imports.append(run)
    out["dag_import"] = summary(imports, airflow_seconds=statistics.median(r["airflow_seconds"] for r in imports),
                                process_seconds=statistics.median(r["process_seconds"] for r in imports))
    return out


# --------------------------------------------------------------------------------------
# The benchmark's own warehouse
# --------------------------------------------------------------------------------------
@dataclasses.dataclass
class Warehouse:
    admin_url: str          # a URL on the maintenance database, to drop and create the bench database
    url: str                # the bench database
    embedded_home: Path | None
    # The role that owns the bench database when admin_url is the embedded server's superuser:
    # a `drop database … with (force)` must end every session in it, and the owner may not end
    # another role's (after a national night, most likely an autovacuum worker: the owner was
    # refused with "permission denied to terminate process").
    owner: str | None = None

    def _owned(self) -> str:
        """`create database`'s owner clause, when there is an owner to name."""
        return " owner {owner}" if self.owner else ""

    def reset(self) -> None:
        self._admin("drop database if exists {name} with (force)", "create database {name}" + self._owned())

    def _admin(self, *statements) -> None:
        import psycopg
        from psycopg import sql

        name = self.url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for statement in statements:
                names = {"name": sql.Identifier(name), "copy": sql.Identifier(f"{name}_night")}
                if self.owner:
                    names["owner"] = sql.Identifier(self.owner)
                conn.execute(sql.SQL(statement).format(**names))

    def snapshot(self) -> None:
        """A copy of the bench database as it is now, for `restore()`."""
        self._admin("drop database if exists {copy} with (force)",
                    "create database {copy} template {name} strategy file_copy" + self._owned())

    def restore(self) -> None:
        """The bench database as `snapshot()` left it."""
        self._admin("drop database {name} with (force)", "alter database {copy} rename to {name}")

    def stop(self) -> None:
        from lapor.warehouse import EmbeddedServer

        if self.embedded_home is not None:
            EmbeddedServer(self.embedded_home).stop()


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def open_warehouse(settings: Settings, bench_home: Path, scale: Scale) -> Warehouse:
    """The embedded cluster under the bench home, or a database of its own on LAPOR_WAREHOUSE_URL."""
    from lapor.warehouse import ADMIN, OWNER, EmbeddedServer

    name = f"lapor_bench_{scale.name}"
    if settings.warehouse_url:
        return Warehouse(_with_database(settings.warehouse_url, "postgres"),
                         _with_database(settings.warehouse_url, name), None)
    server = EmbeddedServer(bench_home)
    creds = server.ensure_running()
    return Warehouse(_with_database(server.url(creds, ADMIN), "postgres"),
                     _with_database(server.url(creds), name), bench_home, owner=OWNER)


def _machine(url: str) -> dict:
    import psycopg

    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    with psycopg.connect(url) as conn:
        server = conn.execute("show server_version").fetchone()[0]
        shared = conn.execute("show shared_buffers").fetchone()[0]
        work_mem = conn.execute("show work_mem").fetchone()[0]
    return {"nproc": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1), "python": platform.python_version(),
            "platform": platform.platform(), "postgresql": server, "shared_buffers": shared, "work_mem": work_mem}


def _sizes(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        database = conn.execute("select pg_database_size(current_database())").fetchone()[0]
        tables = conn.execute(
            """select n.nspname || '.' || c.relname, pg_total_relation_size(c.oid)
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where c.relkind in ('r', 'm') and n.nspname in ('raw', 'intermediate', 'marts', 'quality')
               order by 2 desc limit 8""").fetchall()
    return {"database_bytes": database, "largest_tables": [[t, b] for t, b in tables]}


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------
def summarize(reps: list[dict[str, dict]]) -> dict[str, dict]:
    """Median seconds and peak memory of each stage over the repetitions."""
    out: dict[str, dict] = {}
    for key, _ in ROWS:
        runs = [r[key] for r in reps if key in r and "error" not in r[key]]
        if not runs:
            errors = [r[key]["error"] for r in reps if key in r]
            if errors:
                out[key] = {"rows": 0, "seconds": float("nan"), "peak_kb": float("nan"), "error": errors[-1]}
            continue
        out[key] = {"rows": runs[-1]["rows"], "seconds": statistics.median(r["seconds"] for r in runs),
                    "peak_kb": statistics.median(r["peak_kb"] for r in runs), "runs": len(runs)}
        for extra in ("airflow_seconds", "process_seconds"):
            values = [r[extra] for r in runs if r.get(extra) is not None]
            if values:
                out[key][extra] = statistics.median(values)
        for cpu in ("client_cpu_s", "server_cpu_s"):
            values = [r[cpu] for r in runs if r.get(cpu) is not None]
            out[key][cpu] = statistics.median(values) if values else None
        loads = [r["loadavg"] for r in runs if r.get("loadavg") is not None]
        if loads:
            out[key]["loadavg"] = max(loads)
    return out


def _ratio(reps: list[dict[str, dict]], top: str, bottom: str) -> float | None:
    values = [r[top]["seconds"] / r[bottom]["seconds"] for r in reps
              if top in r and bottom in r and r[bottom]["seconds"] > 0]
    return statistics.median(values) if values else None


def targets(reps: list[dict[str, dict]], medians: dict[str, dict], scale: Scale) -> list[dict]:
    load_copy = _ratio(reps, "load", "copy")
    incremental = _ratio(reps, "dbt_incremental", "dbt_full")
    small, large = medians.get("load_smallest"), medians.get("load_largest")
    rsmall, rlarge = medians.get("read_smallest"), medians.get("read_largest")
    at = "" if scale.name == "national" else f" (at {scale.name} scale, for information)"
    # issue 17's targets; the ones named for a scale are MET or NOT MET at that scale only
    out = [{"target": "load <= 1.5x plain COPY (same indexes), national", "value": load_copy,
            "text": f"load / plain COPY = {load_copy:.2f}x{at}" if load_copy else "n/a",
            "met": load_copy is not None and load_copy <= 1.5, "judged": scale.name == "national"}]
    out.append({"target": "nightly dbt build <= 5% of the full build, national",
                "value": incremental,
                "text": f"dbt build one more day / full = {100 * incremental:.1f}%{at}" if incremental else "n/a",
                "met": incremental is not None and incremental <= 0.05, "judged": scale.name == "national"})
    for goal_scale, limit in (("jatim", 15.0), ("national", 90.0)):
        dag, stages = medians.get("night_dag"), medians.get("night_stages")
        here = scale.name == goal_scale
        if dag and "error" not in dag:
            text = (f"a night through the DAG {dag['seconds']:.1f} s"
                    + (f" (stage by stage {stages['seconds']:.1f} s)" if stages else "")
                    + ("" if here else f" (at {scale.name} scale, for information)"))
        else:
            text = "no DAG night measured" + (f": {dag['error']}" if dag else "")
        out.append({"target": f"a {'Jawa Timur' if goal_scale == 'jatim' else 'national'} night, prepare to "
                              f"report, <= {limit:.0f} s ({goal_scale} scale)",
                    "value": dag["seconds"] if dag and "error" not in dag else None, "text": text,
                    "met": dag is not None and "error" not in dag and dag["seconds"] <= limit, "judged": here})
    checks = medians.get("checks")
    if checks and "error" not in checks:
        out.append({"target": "checks <= 10 s and <= 200 MB, national", "value": checks["seconds"],
                    "text": f"checks {checks['seconds']:.1f} s, {checks['peak_kb'] / 1024:.0f} MB{at}",
                    "met": checks["seconds"] <= 10 and checks["peak_kb"] <= 200 * 1024,
                    "judged": scale.name == "national"})
    if small and large:
        growth = large["peak_kb"] / small["peak_kb"]
        read_growth = rlarge["peak_kb"] / rsmall["peak_kb"] if rsmall and rlarge else None
        out.append({"target": "ingestion peak memory flat with file size", "value": growth,
                    "text": f"load peak {small['peak_kb'] / 1024:.0f} MB for {small['rows']:,} rows vs "
                            f"{large['peak_kb'] / 1024:.0f} MB for {large['rows']:,} rows "
                            f"(x{growth:.2f}; read alone x{read_growth:.2f})",
                    "met": growth <= 1.2})
    # judged on the parse cost the scheduler pays on every loop (issue 7); the fresh
    # interpreter's import is mostly Airflow's own start-up, paid once per DAG processor
    parse, fresh = medians.get("dag_processor"), medians.get("dag_import")
    if parse and "error" not in parse:
        text = f"DAG processor parse {parse['seconds']:.3f} s per loop"
        if fresh and "error" not in fresh:
            text += (f" (for information: fresh interpreter {fresh['seconds']:.2f} s, of which importing "
                     f"Airflow {fresh.get('airflow_seconds', float('nan')):.2f} s)")
        out.append({"target": "DAG import < 1 s", "value": parse["seconds"], "text": text,
                    "met": parse["seconds"] < 1.0, "fresh_process_seconds": fresh["seconds"] if fresh else None})
    return out


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def render(scale: Scale, manifest: dict, medians: dict[str, dict], reps: int, goals: list[dict],
           machine: dict) -> str:
    lines = [f"lapor bench: scale {scale.name}, {len(manifest['agencies'])} agencies, "
             f"{manifest['rows_day0']:,} complaints of history ({manifest['bytes_day0'] / 1e6:,.0f} MB CSV) "
             f"+ {manifest['rows_day1']:,} on day+1; median of {reps} run(s)",
             f"machine: {machine['nproc']} CPU, {machine['ram_gb']} GB RAM, Python {machine['python']}, "
             f"PostgreSQL {machine['postgresql']}; 1-min load average during the stages "
             f"{machine.get('load_min', 0):.1f}-{machine.get('load_max', 0):.1f}",
             f"code: commit {machine.get('commit') or 'unknown'}"
             + (" with uncommitted changes" if machine.get("dirty") else ""), ""]
    header = (f"{'stage':<30} {'rows':>12} {'seconds':>10} {'rows/s':>12} {'peak MB':>9} "
              f"{'CPU s':>8} {'PG CPU s':>9} {'load':>5}")
    lines += [header, "-" * len(header)]
    for key, label in ROWS:
        m = medians.get(key)
        if m is None:
            continue
        if "error" in m:
            lines.append(f"{label:<30} {'FAILED: ' + m['error'][:80]}")
            continue
        rows = _num(m["rows"]) if m["rows"] else "-"
        rate = _num(m["rows"] / m["seconds"]) if m["rows"] and m["seconds"] > 0 else "-"
        seconds = f"{m['seconds']:,.3f}" if m["seconds"] < 10 else f"{m['seconds']:,.1f}"
        cpu = "-" if m.get("client_cpu_s") is None else f"{m['client_cpu_s']:,.1f}"
        server = "-" if m.get("server_cpu_s") is None else f"{m['server_cpu_s']:,.1f}"
        load = "-" if m.get("loadavg") is None else f"{m['loadavg']:.1f}"
        lines.append(f"{label:<30} {rows:>12} {seconds:>10} {rate:>12} {m['peak_kb'] / 1024:>9.1f} "
                     f"{cpu:>8} {server:>9} {load:>5}")
    lines += ["", "seconds: wall time; CPU s: the stage's own process (Python); PG CPU s: the PostgreSQL "
              "server's processes (embedded cluster only); load: the machine's 1-min load average during the "
              "stage (the highest of its repetitions)",
              "night, stage by stage: ingest one more day (with its prepare), dbt build one more day, dbt docs "
              "(the night), checks, e-mail and report, each in its own process",
              "night through the DAG: the same night of day+1 as `lapor run` runs it (DagBag from the DAGs "
              "folder, dag.test(), every task and Airflow's own cost per task), on the warehouse as the full "
              "build left it"]
    parse, fresh = medians.get("dag_processor"), medians.get("dag_import")
    if parse and "error" not in parse:
        lines.append("DAG parse (DAG processor): Airflow's own _parse_file (stability check, DagBag import, "
                     "serialization) in a child forked from a process with Airflow loaded, as the DAG processor "
                     "parses the file on every loop")
    if fresh and "error" not in fresh and fresh.get("airflow_seconds") is not None:
        lines.append(f"DAG import (fresh process): the file in a new interpreter, of which importing Airflow "
                     f"{fresh['airflow_seconds']:.2f} s (paid once when a DAG processor starts)")
    lines.append("")
    for goal in goals:  # a target named for another scale is given for information (n/a)
        verdict = ("MET    " if goal["met"] else "NOT MET") if goal.get("judged", True) else "n/a    "
        lines.append(f"{verdict} {goal['target']}: {goal['text']}")
    return "\n".join(lines) + "\n"


# stages whose rows are complaint rows: for them the chart also gives seconds per 1,000 rows
PER_ROW = ("read", "land", "load", "copy", "dbt_full", "ingest_d1", "dbt_incremental")


def chart(records: list[dict], per_decade: int = 8) -> str:
    """Seconds per stage by scale as a text chart on a log scale (`per_decade` characters per
    factor of ten, from 0.01 s), with seconds per 1,000 rows where the rows are complaints.

    The DAG rows are left out: they do not depend on the scale (see the table of each run)."""
    import math

    floor = -2  # 0.01 s
    names = [r["scale"]["name"] for r in records]
    entries = []
    for key, label in ROWS:
        if label.startswith("  ") or key == "generate" or key in DAG_ROWS:
            continue
        present = [(n, r["medians"][key]) for n, r in zip(names, records)
                   if key in r["medians"] and "error" not in r["medians"][key]]
        for i, (n, m) in enumerate(present):
            entries.append((label if i == 0 else "", n, m, key))
    if not entries:
        return "no stage figures in these records\n"
    top = max(0, math.ceil(math.log10(max(m["seconds"] for _, _, m, _ in entries))))
    decades = range(floor, top + 1)
    tick = {-2: "0.01", -1: "0.1", 0: "1", 1: "10", 2: "100", 3: "1k", 4: "10k", 5: "100k"}
    left = f"{'stage':<26} {'scale':<9} {'rows':>11} {'seconds':>9} {'s/1k rows':>9}  "
    labels = "".join(f"{tick.get(d, f'1e{d}'):<{per_decade}}" for d in decades).rstrip() + " s"
    axis = "".join("|" + "." * (per_decade - 1) for d in decades[:-1]) + "|"
    lines = [f"seconds per stage (median of each run), log scale: {per_decade} characters per factor of 10 "
             "from 0.01 s;",
             "s/1k rows = seconds per 1,000 complaint rows (for the stages that handle complaints)", "",
             " " * len(left) + labels, left + axis]
    for label, n, m, key in entries:
        seconds = m["seconds"]
        marks = max(1, round(per_decade * (math.log10(max(seconds, 10.0 ** floor)) - floor)))
        rows = f"{m['rows']:,}" if m.get("rows") else "-"
        per_k = f"{1000 * seconds / m['rows']:.3f}" if key in PER_ROW and m.get("rows") else "-"
        shown = f"{seconds:,.2f}" if seconds < 100 else f"{seconds:,.0f}"
        lines.append(f"{label:<26} {n:<9} {rows:>11} {shown:>9} {per_k:>9}  {'#' * marks}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lapor bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("scale_name", nargs="?", choices=sorted(SCALES), metavar="SCALE",
                        help="the scale, as a word (same as --scale)")
    parser.add_argument("--scale", choices=sorted(SCALES), default=None,
                        help="tiny (3 agencies, 2k), small (38, 20k), jatim (38, 300k), national (700, 10M); "
                             "default BENCH_SCALE or small")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions, medians reported (default: 3 for small, 1 for the others)")
    parser.add_argument("--dag-repeat", type=int, default=5, help="DAG imports timed (median; default 5)")
    parser.add_argument("--home", type=Path, default=None, help="bench folder (default LAPOR_HOME/bench-<scale>)")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--regenerate", action="store_true", help="write the drop folder again even if present")
    parser.add_argument("--keep-server", action="store_true", help="leave the bench's embedded PostgreSQL running")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--chart", nargs="+", type=Path, metavar="JSON",
                        help="only print the seconds-per-stage chart of earlier runs' bench-<scale>.json files")
    return parser


@contextlib.contextmanager
def _environment(values: dict[str, str | None]):
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv: list[str], settings: Settings) -> int:
    argv = list(argv)
    if argv[:1] == ["--"]:  # `lapor bench -- --scale jatim`: the CLI passes the separator on
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if args.chart:
        print(chart([json.loads(p.read_text()) for p in args.chart]), end="")
        return 0
    name = args.scale or args.scale_name or os.environ.get("BENCH_SCALE") or "small"
    if name not in SCALES:
        print(f"lapor bench: unknown scale {name!r} (BENCH_SCALE); one of {', '.join(SCALES)}", file=sys.stderr)
        return 2
    scale = SCALES[name]
    repeat = args.repeat or scale.repeat
    home = (args.home or settings.home / f"bench-{scale.name}").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        home.chmod(0o755)  # the embedded server runs as the user pgserver
    (home / "logs").mkdir(exist_ok=True)
    partial = home / f"bench-{scale.name}.progress.jsonl"
    partial.unlink(missing_ok=True)
    runner = Runner(home / "logs" / "bench.log", verbose=not args.quiet, partial=partial)
    say = (lambda text: None) if args.quiet else (lambda text: print(f"[bench] {text}", file=sys.stderr, flush=True))

    from lapor.dev.generate import existing

    say(f"scale {scale.name}: {scale.agencies} agencies, {scale.complaints:,} complaints; bench folder {home}")
    manifest = None if args.regenerate else existing(home, scale, args.seed, settings)
    if manifest is None:
        shutil.rmtree(home / "exports", ignore_errors=True)
        generated = runner.run("generate", stage_generate, out_dir=str(home), scale=scale, seed=args.seed,
                               settings=settings)
        manifest = generated.pop("manifest")
        manifest["generate"] = generated  # kept with the files: a later run that reuses them reports it
        (home / MANIFEST).write_text(json.dumps(manifest, indent=1))
    else:
        say("drop folder already generated for this scale and seed: reused (--regenerate to write it again)")
    generated = manifest.get("generate")

    warehouse = open_warehouse(settings, home, scale)
    runner.pgdata = warehouse.embedded_home / "pgdata" if warehouse.embedded_home else None
    bench = dataclasses.replace(
        settings, home=home, warehouse_url=warehouse.url, exports_dir=Path(manifest["exports"]),
        registry_path=Path(manifest["registry"]), smtp_url=None, report_base_url=None)
    from lapor.runner import airflow_env

    env = {"LAPOR_HOME": str(home), "LAPOR_WAREHOUSE_URL": warehouse.url, "LAPOR_EXPORTS_DIR": manifest["exports"],
           "LAPOR_REGISTRY": manifest["registry"], "LAPOR_SMTP_URL": None, "LAPOR_REPORT_BASE_URL": None,
           **airflow_env(bench)}
    agencies = manifest["agencies"]
    codes = [a["agency_code"] for a in agencies]
    by_size = sorted(agencies, key=lambda a: (a["rows_day0"], a["agency_code"]))
    smallest, largest = by_size[0]["agency_code"], by_size[-1]["agency_code"]
    paths = [str(Path(manifest["exports"]) / c / "complaints" / f"{DAY0}.csv") for c in codes]

    reps: list[dict[str, dict]] = []
    try:
        with _environment(env):
            machine = _machine(warehouse.admin_url)
            for rep in range(repeat):
                say(f"run {rep + 1} of {repeat}")
                warehouse.reset()
                for folder in ("landing", "outbox", "reports"):
                    shutil.rmtree(home / folder, ignore_errors=True)
                r: dict[str, dict] = {}
                if generated:
                    r["generate"] = generated
                r["prepare"] = runner.run("prepare", stage_prepare, settings=bench, day=DAY0)
                r["read_smallest"] = runner.run("read_smallest", stage_read, settings=bench, codes=[smallest], day=DAY0)
                r["read_largest"] = runner.run("read_largest", stage_read, settings=bench, codes=[largest], day=DAY0)
                r["read"] = runner.run("read", stage_read, settings=bench, codes=codes, day=DAY0)
                r["land"] = runner.run("land", stage_land, settings=bench, codes=codes, day=DAY0)
                r["land"]["rows"] = r["read"]["rows"]
                landed = {item["agency_code"]: item for item in r["land"].pop("landed")}
                parts = [runner.run("load_smallest", stage_load, settings=bench, landed=[landed[smallest]], day=DAY0),
                         runner.run("load_largest", stage_load, settings=bench, landed=[landed[largest]], day=DAY0)]
                rest = [landed[c] for c in codes if c not in (smallest, largest)]
                if rest:
                    parts.append(runner.run("load_rest", stage_load, settings=bench, landed=rest, day=DAY0))
                r["load_smallest"], r["load_largest"] = parts[0], parts[1]
                r["load"] = {"rows": sum(p["rows"] for p in parts), "seconds": sum(p["seconds"] for p in parts),
                             "peak_kb": max(p["peak_kb"] for p in parts),
                             "rejects": sum(p["rejects"] for p in parts),
                             "loadavg": max(p["loadavg"] for p in parts),
                             "client_cpu_s": sum(p["client_cpu_s"] for p in parts),
                             "server_cpu_s": (sum(p["server_cpu_s"] for p in parts)
                                              if all(p.get("server_cpu_s") is not None for p in parts) else None)}
                say(f"{'load (total)':<30} {r['load']['rows']:>12,} rows {r['load']['seconds']:>9.2f} s")
                r["copy"] = runner.run("copy", stage_copy, url=warehouse.url, paths=paths, indexes=True)
                r["copy_noindex"] = runner.run("copy_noindex", stage_copy, url=warehouse.url, paths=paths,
                                               indexes=False)
                if r["copy"]["rows"] != r["load"]["rows"]:
                    say(f"warning: plain COPY loaded {r['copy']['rows']:,} rows, the loader {r['load']['rows']:,}")
                r["dbt_full"] = runner.run("dbt_full", stage_dbt_full, settings=bench)
                r["dbt_docs_full"] = runner.run("dbt_docs_full", stage_dbt_docs, optional=True, settings=bench)
                warehouse.snapshot()  # D0's night done: the DAG night of D1 starts from here too
                r["ingest_d1"] = runner.run("ingest_d1", stage_ingest, settings=bench, codes=codes, day=DAY1)
                r["dbt_incremental"] = runner.run("dbt_incremental", stage_dbt_incremental, settings=bench, day=DAY1)
                r["dbt_docs"] = runner.run("dbt_docs", stage_dbt_docs, optional=True, settings=bench)
                r["checks"] = runner.run("checks", stage_checks, settings=bench, day=DAY1)
                r["email"] = runner.run("email", stage_email, settings=bench, day=DAY1)
                r["report"] = runner.run("report", stage_report, optional=True, settings=bench, day=DAY1)
                night = [r[k] for k in NIGHT_STAGES]
                if not any("error" in m for m in night):
                    r["night_stages"] = {
                        "rows": r["ingest_d1"]["rows"], "seconds": sum(m["seconds"] for m in night),
                        "peak_kb": max(m["peak_kb"] for m in night),
                        "client_cpu_s": sum(m["client_cpu_s"] for m in night),
                        "server_cpu_s": (sum(m["server_cpu_s"] for m in night)
                                         if all(m.get("server_cpu_s") is not None for m in night) else None),
                        "loadavg": max(m["loadavg"] for m in night)}
                warehouse.restore()
                runner.run("airflow_setup", stage_airflow_setup, settings=bench)
                r["night_dag"] = runner.run("night_dag", stage_night_dag, optional=True, settings=bench, day=DAY1)
                reps.append(r)
            sizes = _sizes(warehouse.url)
            say(f"DAG import, {args.dag_repeat} time(s) each way")
            dag = dag_import_times(bench, args.dag_repeat)
            for r in reps:
                r.update(dag)
    finally:
        if not args.keep_server:
            warehouse.stop()

    loads = [v["loadavg"] for r in reps for v in r.values() if isinstance(v, dict) and "loadavg" in v]
    machine.update(load_min=min(loads, default=0.0), load_max=max(loads, default=0.0))
    try:
        machine["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=DAGS_DIR.parent,
                                           capture_output=True, text=True, timeout=10).stdout.strip() or None
        machine["dirty"] = bool(subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "plugins", "dags", "dbt_project"],
            cwd=DAGS_DIR.parent, capture_output=True, text=True, timeout=10).stdout.strip())
    except OSError:
        machine["commit"] = None
    medians = summarize(reps)
    goals = targets(reps, medians, scale)
    text = render(scale, manifest, medians, repeat, goals, machine)
    print(text, end="")
    record = {
        "scale": dataclasses.asdict(scale), "repeat": repeat, "date": datetime.now(timezone.utc).isoformat(),
        "machine": machine, "day0": DAY0.isoformat(), "day1": DAY1.isoformat(),
        "files": {k: manifest[k] for k in ("rows_day0", "rows_day1", "bytes_day0", "bytes_day1")},
        "smallest_file": by_size[0], "largest_file": by_size[-1],
        "medians": medians, "targets": goals, "warehouse_after_run": sizes, "runs": reps,
        "notes": ["seconds are measured inside a fresh child process per stage, around the stage's work",
                  "peak_kb is the child's RSS high-water mark (ru_maxrss); PostgreSQL processes are not counted",
                  "load = load_smallest + load_largest + the other files, each part in its own process"],
    }
    (home / f"bench-{scale.name}.json").write_text(json.dumps(record, indent=1, default=str))
    (home / f"bench-{scale.name}.txt").write_text(text)
    if not args.quiet:
        print(f"\nwritten: {home / f'bench-{scale.name}.txt'} and .json", file=sys.stderr)
    return 0
