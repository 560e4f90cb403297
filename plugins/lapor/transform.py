"""Runs the dbt project (`dbt_project/`) in-process against the warehouse in use."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lapor.settings import DBT_PROJECT_DIR, WAREHOUSE_URL_OPTIONS, Settings, parse_warehouse_url


class TransformError(RuntimeError):
    pass


@dataclass(frozen=True)
class DbtResult:
    command: str
    success: bool
    failures: list[str]


def dbt_env(url: str) -> dict[str, str]:
    """The environment variables `dbt_project/profiles.yml` reads, from a warehouse URL: its
    connection and its query options (`sslmode`, `sslrootcert`, …, as `LAPOR_DBT_SSLMODE`, …),
    so that dbt connects exactly as psycopg and Great Expectations do."""
    parts = parse_warehouse_url(url)
    env = {
        "LAPOR_DBT_HOST": parts.host,
        "LAPOR_DBT_PORT": str(parts.port),
        "LAPOR_DBT_USER": parts.user,
        "LAPOR_DBT_PASSWORD": parts.password,
        "LAPOR_DBT_DBNAME": parts.dbname,
    }
    for option in WAREHOUSE_URL_OPTIONS:
        env[f"LAPOR_DBT_{option.upper()}"] = parts.options.get(option, "prefer" if option == "sslmode" else "")
    return env


def dbt_paths(settings: Settings) -> dict[str, str]:
    """Where the pipeline's dbt finds its project and profile and writes its target and logs."""
    return {
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": str(settings.dbt_dir / "target"),
        "DBT_LOG_PATH": str(settings.dbt_dir / "logs"),
    }


def dbt_args(args: list[str], settings: Settings, extra_vars: dict | None = None) -> list[str]:
    """`args` with the project, profile, target path, log path and `--vars` of the nightly run:
    what `lapor dbt -- ARGS` and the pipeline both run."""
    variables = {**settings.dbt_vars(), **(extra_vars or {})}
    paths = dbt_paths(settings)
    return [
        *args,
        "--project-dir", paths["DBT_PROJECT_DIR"],
        "--profiles-dir", paths["DBT_PROFILES_DIR"],
        "--target-path", paths["DBT_TARGET_PATH"],
        "--log-path", paths["DBT_LOG_PATH"],
        "--vars", json.dumps(variables),
    ]


def run_dbt(args: list[str], url: str, settings: Settings, extra_vars: dict | None = None) -> DbtResult:
    """Invoke dbt (`build`, `docs generate`, …) and return what failed, by node name."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(url))
    result = dbtRunner().invoke(dbt_args(args, settings, extra_vars))
    failures: list[str] = []
    if result.exception is not None:
        failures.append(f"{type(result.exception).__name__}: {result.exception}")
    res = result.result
    for node in getattr(res, "results", None) or []:
        status = str(getattr(node, "status", "")).lower()
        if status in {"error", "fail", "runtimeerror"}:
            name = getattr(getattr(node, "node", None), "unique_id", "?")
            failures.append(f"{name}: {getattr(node, 'message', '')}")
    return DbtResult(command=" ".join(args), success=bool(result.success) and not failures, failures=failures)


PRODUCTION = ["--exclude-resource-type", "unit_test"]
# A night whose seeds are loaded already: every model, every source's and model's data test
# (a test between a model and a seed included: eager indirect selection takes a test when any
# of its parents is selected), the exposures; not the seeds, nor the tests on seeds alone.
WITHOUT_SEEDS = ["--select", "resource_type:model", "resource_type:source", "resource_type:exposure"]


def seeds_fingerprint() -> str:
    """What the seed tables are loaded from, hashed: every file of the project's seeds/ (the
    CSVs and their yml), dbt_project.yml (the seeds' schema and column types) and dbt's version."""
    import hashlib

    from dbt.version import __version__ as dbt_version

    digest = hashlib.sha256(f"dbt {dbt_version}\n".encode())
    files = sorted(p for p in (DBT_PROJECT_DIR / "seeds").rglob("*") if p.is_file())
    for path in [DBT_PROJECT_DIR / "dbt_project.yml", *files]:
        relative = path.relative_to(DBT_PROJECT_DIR).as_posix()
        digest.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def seeds_current(url: str, fingerprint: str) -> bool:
    """The seeds in the warehouse are those of the files: the last nightly build that loaded
    them recorded this fingerprint (quality.seeds_loaded), and every seed's table exists."""
    from lapor.warehouse import connect

    names = sorted(p.stem for p in (DBT_PROJECT_DIR / "seeds").glob("*.csv"))
    with connect(url) as conn:
        if conn.execute("select to_regclass('quality.seeds_loaded')").fetchone()[0] is None:
            return False
        stored = [r[0] for r in conn.execute("select fingerprint from quality.seeds_loaded")]
        present = {r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'ref'"
            " and table_name = any(%s)", (names,))}
    return stored == [fingerprint] and present == set(names)


def _record_seeds(url: str, fingerprint: str) -> None:
    from lapor.warehouse import connect

    with connect(url) as conn, conn.transaction():
        if conn.execute("select to_regclass('quality.seeds_loaded')").fetchone()[0] is None:
            return  # a warehouse without lapor's schema (dbt run on its own): loaded every night
        conn.execute("delete from quality.seeds_loaded")
        conn.execute("insert into quality.seeds_loaded (fingerprint) values (%s)", (fingerprint,))


def build(url: str, settings: Settings, unit_tests: bool = True, full_refresh: bool = False) -> DbtResult:
    """`dbt build`: every model, seed and data test, and the unit tests unless `unit_tests` is
    false (the nightly run: they check the models' code, which a night does not change; `make
    test` runs them). The nightly build leaves out the seeds and the tests on seeds alone when
    the seed files are those it last loaded (`seeds_current`; a seed's tests on models still
    run); `full_refresh` rebuilds everything, seeds included. Raises when something failed."""
    args = ["build"] + ([] if unit_tests else PRODUCTION) + (["--full-refresh"] if full_refresh else [])
    fingerprint = None if unit_tests else seeds_fingerprint()
    skip_seeds = fingerprint is not None and not full_refresh and seeds_current(url, fingerprint)
    result = run_dbt(args + (WITHOUT_SEEDS if skip_seeds else []), url, settings)
    if not result.success:
        raise TransformError("dbt build failed:\n" + "\n".join(result.failures))
    if fingerprint is not None and not skip_seeds:
        _record_seeds(url, fingerprint)
    return result


def docs_index(settings: Settings) -> Path:
    return settings.reports_dir / "dbt-docs" / "index.html"


def docs_fingerprint_path(settings: Settings) -> Path:
    """The fingerprint of what the published docs were generated from, beside them."""
    return docs_index(settings).with_name("fingerprint.json")


# What `dbt docs generate` reads from PostgreSQL (dbt-postgres' catalog query), for every
# schema but the system's: relations, their kind, owner and comment, their columns in order
# with type and comment. No row counts or statistics: a night's new rows do not change it.
CATALOG_SQL = """
select n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner), d.description,
       a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), cd.description
  from pg_catalog.pg_namespace n
  join pg_catalog.pg_class c on c.relnamespace = n.oid
  join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join pg_catalog.pg_description d on d.objoid = c.oid and d.objsubid = 0
  left join pg_catalog.pg_description cd on cd.objoid = c.oid and cd.objsubid = a.attnum
 where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
   and c.relpersistence in ('p', 'u') and c.relkind in ('r', 'v', 'f', 'p', 'm')
 order by 1, 2, 6
"""
# in the project folder, not the project: what dbt writes or installs there
NOT_PROJECT = {"target", "logs", ".user.yml", "__pycache__"}


def docs_fingerprint(url: str, settings: Settings) -> dict[str, str]:
    """What the dbt docs depend on, hashed: the project's files (models, their yml, macros,
    seeds, tests, dbt_project.yml, profiles.yml), dbt's version, the --vars, the database's
    name and the warehouse's catalog (`CATALOG_SQL`). Equal fingerprints give equal docs."""
    import hashlib

    from dbt.version import __version__ as dbt_version

    from lapor.warehouse import connect

    project = hashlib.sha256()
    for path in sorted(p for p in DBT_PROJECT_DIR.rglob("*") if p.is_file()):
        relative = path.relative_to(DBT_PROJECT_DIR)
        if NOT_PROJECT & set(relative.parts):
            continue
        project.update(relative.as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    catalog = hashlib.sha256()
    with connect(url) as conn:
        for row in conn.execute(CATALOG_SQL):
            catalog.update(repr(tuple(row)).encode() + b"\n")
    settings_part = json.dumps({"dbt": dbt_version, "vars": settings.dbt_vars(),
                                "database": parse_warehouse_url(url).dbname}, sort_keys=True)
    return {"project": project.hexdigest(), "catalog": catalog.hexdigest(),
            "settings": hashlib.sha256(settings_part.encode()).hexdigest()}


def generate_docs(url: str, settings: Settings, force: bool = False) -> Path:
    """`dbt docs generate --static`, published beside the reports as one self-contained page,
    with the fingerprint (`docs_fingerprint`) it was generated from. Nothing is run when the
    published page's fingerprint equals today's (a night that changed neither the project
    nor the warehouse's schema keeps the last page), unless `force`. The compiled code the page
    shows is that of the night that generated it (the incremental models compile differently
    on a full-rebuild night: `incremental.sql` asks `int_build_window`)."""
    target = docs_index(settings)
    fingerprint = docs_fingerprint(url, settings)
    stored = docs_fingerprint_path(settings)
    if not force and target.is_file() and stored.is_file():
        with contextlib.suppress(ValueError):
            if json.loads(stored.read_text()) == fingerprint:
                return target
    result = run_dbt(["docs", "generate", "--static"], url, settings)
    if not result.success:
        raise TransformError("dbt docs generate failed:\n" + "\n".join(result.failures))
    target.parent.mkdir(parents=True, exist_ok=True)
    stored.unlink(missing_ok=True)  # the page and its fingerprint never disagree, even if stopped here
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(settings.dbt_dir / "target" / "static_index.html", tmp)
    tmp.replace(target)
    tmp = stored.with_suffix(".tmp")
    tmp.write_text(json.dumps(fingerprint, indent=1) + "\n")
    tmp.replace(stored)
    return target
