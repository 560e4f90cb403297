"""Every setting of the pipeline, read from the environment, each with a working default.

The README's "Settings" table documents the same names; keep the two together.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent
DAGS_DIR = PROJECT_ROOT / "dags"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DEFAULT_REGISTRY = PACKAGE_DIR / "registry" / "agencies.csv"
TIMEZONE = "Asia/Jakarta"


class SettingError(ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "ya", "y", "on"}:
        return True
    if value in {"0", "false", "no", "tidak", "n", "off"}:
        return False
    raise SettingError(f"{name}={raw!r}: expected true or false")


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise SettingError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a number") from None
    if value < 0:
        raise SettingError(f"{name}={raw!r}: must not be negative")
    return value


def _month(name: str, default: str) -> date:
    raw = os.environ.get(name) or default
    try:
        year, month = raw.strip().split("-")[:2]
        return date(int(year), int(month), 1)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a month as YYYY-MM") from None


def _duration(name: str, default: str) -> str:
    """A PostgreSQL duration such as 60s, 500ms, 5min, 1h (a bare number is milliseconds)."""
    raw = (os.environ.get(name) or "").strip() or default
    if not re.fullmatch(r"[0-9]+ ?(ms|s|min|h|d)?", raw):
        raise SettingError(f"{name}={raw!r}: expected a duration such as 60s, 500ms, 5min or 1h")
    return raw


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str | None
    exports_dir: Path
    smtp_url: str | None
    coordinator_email: str
    mail_from: str
    registry_path: Path
    followup_from: date
    followup_due_working_day: int
    followup_sla_working_days: int
    cuti_bersama_is_holiday: bool
    report_base_url: str | None
    http_timeout: float = 30.0
    http_retries: int = 4
    http_backoff: float = 1.0
    reminder_days: int = 3
    bi_statement_timeout: str = "60s"

    @classmethod
    def from_env(cls) -> "Settings":
        home = Path(os.environ.get("LAPOR_HOME") or PROJECT_ROOT / ".lapor").expanduser().resolve()
        exports = os.environ.get("LAPOR_EXPORTS_DIR")
        return cls(
            home=home,
            warehouse_url=os.environ.get("LAPOR_WAREHOUSE_URL") or None,
            exports_dir=Path(exports).expanduser().resolve() if exports else home / "exports",
            smtp_url=os.environ.get("LAPOR_SMTP_URL") or None,
            coordinator_email=os.environ.get("LAPOR_COORDINATOR_EMAIL")
            or "koordinator.lapor@diskominfo.jatim.example",
            mail_from=os.environ.get("LAPOR_MAIL_FROM") or "LAPOR! Jatim <noreply@lapor-jatim.example>",
            registry_path=Path(os.environ.get("LAPOR_REGISTRY") or DEFAULT_REGISTRY),
            followup_from=_month("LAPOR_FOLLOWUP_FROM", "2020-01"),
            followup_due_working_day=_int("LAPOR_FOLLOWUP_DUE_WORKING_DAY", 5, minimum=1),
            followup_sla_working_days=_int("LAPOR_FOLLOWUP_SLA_WORKING_DAYS", 5, minimum=1),
            cuti_bersama_is_holiday=_bool("LAPOR_CUTI_BERSAMA_IS_HOLIDAY", True),
            report_base_url=os.environ.get("LAPOR_REPORT_BASE_URL") or None,
            http_timeout=_float("LAPOR_HTTP_TIMEOUT", 30.0),
            http_retries=_int("LAPOR_HTTP_RETRIES", 4),
            http_backoff=_float("LAPOR_HTTP_BACKOFF", 1.0),
            reminder_days=_int("LAPOR_REMINDER_DAYS", 3, minimum=1),
            bi_statement_timeout=_duration("LAPOR_BI_STATEMENT_TIMEOUT", "60s"),
        )

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def http_cache_dir(self) -> Path:
        """Files fetched from HTTP export APIs, in the drop folder's layout."""
        return self.home / "http-cache"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def dbt_dir(self) -> Path:
        return self.home / "dbt"

    def dbt_vars(self) -> dict[str, object]:
        """The policy settings the dbt models read as `var(...)`."""
        return {
            "followup_from": self.followup_from.isoformat(),
            "followup_due_working_day": self.followup_due_working_day,
            "followup_sla_working_days": self.followup_sla_working_days,
            "cuti_bersama_is_holiday": self.cuti_bersama_is_holiday,
        }
