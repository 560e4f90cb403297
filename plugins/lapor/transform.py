"""Runs the dbt project (`dbt_project/`) in-process against the warehouse in use."""
from __future__ import annotations

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


def build(url: str, settings: Settings, unit_tests: bool = True) -> DbtResult:
    """`dbt build`: every model, seed and data test, and the unit tests unless `unit_tests` is
    false (the nightly run: they check the models' code, which a night does not change; `make
    test` runs them). Raises when something failed."""
    result = run_dbt(["build"] + ([] if unit_tests else PRODUCTION), url, settings)
    if not result.success:
        raise TransformError("dbt build failed:\n" + "\n".join(result.failures))
    return result


def docs_index(settings: Settings) -> Path:
    return settings.reports_dir / "dbt-docs" / "index.html"


def generate_docs(url: str, settings: Settings) -> Path:
    """`dbt docs generate --static`, published beside the reports as one self-contained page."""
    result = run_dbt(["docs", "generate", "--static"], url, settings)
    if not result.success:
        raise TransformError("dbt docs generate failed:\n" + "\n".join(result.failures))
    target = docs_index(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(settings.dbt_dir / "target" / "static_index.html", tmp)
    tmp.replace(target)
    return target
