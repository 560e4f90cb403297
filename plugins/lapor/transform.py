"""Runs the dbt project (`dbt_project/`) in-process against the warehouse in use."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lapor.settings import DBT_PROJECT_DIR, Settings


class TransformError(RuntimeError):
    pass


@dataclass(frozen=True)
class DbtResult:
    command: str
    success: bool
    failures: list[str]


def dbt_env(url: str) -> dict[str, str]:
    """The environment variables `dbt_project/profiles.yml` reads, from a warehouse URL."""
    parts = urlsplit(url)
    return {
        "LAPOR_DBT_HOST": parts.hostname or "127.0.0.1",
        "LAPOR_DBT_PORT": str(parts.port or 5432),
        "LAPOR_DBT_USER": unquote(parts.username or ""),
        "LAPOR_DBT_PASSWORD": unquote(parts.password or ""),
        "LAPOR_DBT_DBNAME": (parts.path or "/lapor").lstrip("/") or "lapor",
    }


def run_dbt(args: list[str], url: str, settings: Settings, extra_vars: dict | None = None) -> DbtResult:
    """Invoke dbt (`build`, `docs generate`, …) and return what failed, by node name."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(url))
    variables = {**settings.dbt_vars(), **(extra_vars or {})}
    target = settings.dbt_dir / "target"
    logs = settings.dbt_dir / "logs"
    full = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target),
        "--log-path", str(logs),
        "--vars", json.dumps(variables),
    ]
    result = dbtRunner().invoke(full)
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
