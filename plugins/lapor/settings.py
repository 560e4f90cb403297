"""Every setting of the pipeline, read from the environment, each with a working default.

The README's "Settings" table documents the same names; keep the two together
(tests/test_docs.py fails on a setting one of them has and the other lacks).

The policy defaults (the report due day, the follow-up limit, cuti bersama, the silent-agency
thresholds) and the time zone are written once, as the `vars:` of `dbt_project/dbt_project.yml`,
so that a bare `dbt` run has them too; `project_vars()` reads them from there (a missing or
wrong one raises `SettingError` naming the file), and an environment variable overrides each.

`Settings.from_env()` checks every value when it is read: URLs are parsed (scheme, host, port,
the query options the warehouse URL may carry), numbers are numbers in range, files that must
exist exist. A wrong value raises `SettingError` naming the variable; the CLI turns it into one
line and exit code 2. Nothing is cached: a new value takes effect on the next run.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent
DAGS_DIR = PROJECT_ROOT / "dags"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DEFAULT_REGISTRY = PACKAGE_DIR / "registry" / "agencies.csv"
# The one home of the policy defaults and the time zone (its `vars:`); a test may point it at a copy.
DBT_PROJECT_FILE = DBT_PROJECT_DIR / "dbt_project.yml"

# The nightly DAG: its id, its schedule (02:00 WIB, for the day that just ended) and the pool
# that bounds how many agencies are fetched and loaded at once. Defined here only: the DAG file,
# the local runner, docker/airflow-init.sh's caller and the tests import them.
DAG_ID = "lapor_nightly"
NIGHTLY_CRON = "0 2 * * *"
SOURCES_POOL = "lapor_sources"
DEFAULT_POOL_SLOTS = 8

# The query options a warehouse URL may carry: each reaches psycopg, Great Expectations
# (SQLAlchemy) and dbt (profiles.yml, LAPOR_DBT_<OPTION>) alike. Others are refused at start,
# since one of the three would silently drop them.
WAREHOUSE_URL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class SettingError(ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


@lru_cache(maxsize=8)
def _read_project_vars(path: Path, version: tuple[int, int]) -> dict[str, object]:
    import yaml

    try:
        project = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SettingError(f"{path}: cannot read the dbt project's vars (the policy defaults): {exc}") from None
    found = project.get("vars") if isinstance(project, dict) else None
    if not isinstance(found, dict):
        raise SettingError(f"{path}: no `vars:` (the policy defaults and the time zone live there)")
    return dict(found)


def project_vars() -> dict[str, object]:
    """The `vars:` of DBT_PROJECT_FILE: the policy defaults and the time zone, written once.
    Read again when the file changes (parsed once per version of it)."""
    path = Path(DBT_PROJECT_FILE)
    try:
        stat = path.stat()
    except OSError as exc:
        raise SettingError(f"{path}: cannot read the dbt project's vars (the policy defaults): {exc}") from None
    return _read_project_vars(path, (stat.st_mtime_ns, stat.st_size))


def project_var(name: str) -> object:
    """One var of DBT_PROJECT_FILE; `SettingError` naming the file when it is missing."""
    found = project_vars()
    if name not in found or found[name] is None:
        raise SettingError(f"{DBT_PROJECT_FILE}: the var {name!r} is missing from `vars:` "
                           "(its default is written there only)")
    return found[name]


def _default(name: str, kind: type) -> object:
    """The default of a policy setting: its var in dbt_project.yml, of the type the setting has."""
    value = project_var(name)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is str and isinstance(value, date):
        value = value.isoformat()
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SettingError(f"{DBT_PROJECT_FILE}: the var {name!r} is {value!r}, expected a {kind.__name__}")
    return value


# The time zone of every date (WIB): dbt's `wib_date()` and the semantic model read the same var.
TIMEZONE: str = str(project_var("timezone"))


# What a delivered file may hold at most (lapor.readers.limits): variable -> (default, minimum).
FILE_LIMITS = {
    "LAPOR_MAX_FILE_MB": (512, 1),
    "LAPOR_MAX_COLUMNS": (500, 10),
    "LAPOR_MAX_CELL_CHARS": (131072, 1024),
    "LAPOR_MAX_UNCOMPRESSED_MB": (512, 1),
}


def file_limits() -> dict[str, int]:
    """The file limits in the environment, each checked (`SettingError` names a wrong one)."""
    return {name: _int(name, default, minimum=minimum) for name, (default, minimum) in FILE_LIMITS.items()}


@dataclass(frozen=True)
class WarehouseUrl:
    """A `postgresql://user:password@host:port/dbname?sslmode=…` URL, taken apart once."""

    user: str
    password: str
    host: str
    port: int
    dbname: str
    options: dict[str, str]


def parse_warehouse_url(raw: str, name: str = "LAPOR_WAREHOUSE_URL") -> WarehouseUrl:
    """The parts of a warehouse URL; `SettingError` naming `name` when it is not one."""
    shape = "expected postgresql://user:password@host:port/dbname"
    parts = urlsplit(raw.strip())
    if parts.scheme != "postgresql" or not parts.netloc:
        raise SettingError(f"{name}={_shown(raw)}: {shape}")
    try:
        port = parts.port or 5432
    except ValueError:
        raise SettingError(f"{name}={_shown(raw)}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise SettingError(f"{name}={_shown(raw)}: no host ({shape})")
    if not parts.username:
        raise SettingError(f"{name}={_shown(raw)}: no user ({shape})")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise SettingError(f"{name}={_shown(raw)}: no database name after the host ({shape})")
    if parts.fragment:
        raise SettingError(f"{name}={_shown(raw)}: a URL fragment (#…) is not allowed")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in WAREHOUSE_URL_OPTIONS:
            raise SettingError(f"{name}: the option {key!r} is not supported; "
                               f"allowed: {', '.join(WAREHOUSE_URL_OPTIONS)}")
        if key == "sslmode" and value not in SSLMODES:
            raise SettingError(f"{name}: sslmode={value!r}: expected one of {', '.join(SSLMODES)}")
        if key != "sslmode" and not Path(value).expanduser().is_file():
            raise SettingError(f"{name}: {key}={value!r}: no such file")
        options[key] = value
    return WarehouseUrl(user=unquote(parts.username), password=unquote(parts.password or ""),
                        host=parts.hostname, port=port, dbname=dbname, options=options)


def _shown(raw: str) -> str:
    """A URL as it may appear in an error: its password hidden."""
    parts = urlsplit(raw)
    try:
        password = parts.password
    except ValueError:
        password = None
    return repr(raw.replace(f":{password}@", ":***@") if password else raw)


def _smtp_url(name: str) -> str | None:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    shape = "expected smtp://[user:password@]host:port[?starttls=true] or smtps://…"
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingError(f"{name}={_shown(raw)}: {shape}")
    try:
        parts.port
    except ValueError:
        raise SettingError(f"{name}={_shown(raw)}: the port is not a number from 1 to 65535") from None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls":
            raise SettingError(f"{name}: the option {key!r} is not supported ({shape})")
        if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
            raise SettingError(f"{name}: starttls={value!r}: expected true or false")
    return raw


DEFAULT_COORDINATOR_EMAIL = "koordinator.lapor@diskominfo.jatim.example"
DEFAULT_MAIL_FROM = "LAPOR! Jatim <noreply@lapor-jatim.example>"
# What a sender's display name may not hold besides control characters: the characters that
# would need quoting in a From header (an address list's separators, angle brackets, quotes).
_NEEDS_QUOTING = re.compile(r"[<>\"@,;:\\()\[\]]")


def _echo(raw: str, limit: int = 80) -> str:
    """A value as an error shows it: quoted (a line break shows as \\n), cut after `limit` characters."""
    return repr(raw[:limit]) + (f" (cut: {len(raw):,} characters)" if len(raw) > limit else "")


def _address(name: str, default: str) -> str:
    """One plain e-mail address (name@domain): an address the mails go to is checked at start,
    not when the night's first message to it is built."""
    from lapor.registry import is_plain_address

    raw = os.environ.get(name) or ""
    value = raw.strip() or default
    if not is_plain_address(value):
        raise SettingError(f"{name}={_echo(raw)}: expected one plain e-mail address (name@domain.example), "
                           "without a display name, list or line break")
    return value


def operators_email() -> str:
    """Who gets the failure notice: LAPOR_OPERATORS_EMAIL, else the coordinator."""
    if (os.environ.get("LAPOR_OPERATORS_EMAIL") or "").strip():
        return _address("LAPOR_OPERATORS_EMAIL", DEFAULT_COORDINATOR_EMAIL)
    return _address("LAPOR_COORDINATOR_EMAIL", DEFAULT_COORDINATOR_EMAIL)


def _sender(name: str, default: str) -> str:
    """The From of the mails: `address` or `Display Name <address>`, on one line."""
    from lapor.registry import CONTROL, is_plain_address

    raw = os.environ.get(name) or ""
    value = raw.strip() or default
    match = re.fullmatch(r"(?:(.*?)\s*<([^<>]*)>|([^<>]*))", value)
    display, address = (match.group(1) or "", match.group(2) or match.group(3) or "") if match else ("", "")
    if (not is_plain_address(address) or CONTROL.search(display) or _NEEDS_QUOTING.search(display)
            or len(value) > 254):
        raise SettingError(f"{name}={_echo(raw)}: expected an e-mail address, alone or as "
                           "'Display Name <name@domain.example>', on one line (no quotes, commas, "
                           "angle brackets or @ in the name)")
    return value


def mail_from() -> str:
    """The sender of every mail: LAPOR_MAIL_FROM, else the project's."""
    return _sender("LAPOR_MAIL_FROM", DEFAULT_MAIL_FROM)


def _home() -> Path:
    home = Path(os.environ.get("LAPOR_HOME") or PROJECT_ROOT / ".lapor").expanduser().resolve()
    if home.exists() and not home.is_dir():
        raise SettingError(f"LAPOR_HOME={_echo(os.environ.get('LAPOR_HOME') or '')}: not a folder")
    return home


def failure_notice_transport() -> tuple[str | None, str, Path]:
    """(LAPOR_SMTP_URL, the sender, the outbox) of the failure notice, each read on its own: a
    night that failed because another setting is wrong is still told to the operators."""
    return _smtp_url("LAPOR_SMTP_URL"), mail_from(), _home() / "outbox"


def _web_url(name: str) -> str | None:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https", "file") or (parts.scheme != "file" and not parts.hostname):
        raise SettingError(f"{name}={raw!r}: expected an http://, https:// or file:// address")
    return raw


def _existing_file(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    if not raw:
        return default
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise SettingError(f"{name}={raw!r}: no such file")
    return path


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


def _ratio(name: str, default: float) -> float:
    """A share from 0 to 1 (0.2 = a fifth)."""
    value = _float(name, default)
    if value > 1:
        raise SettingError(f"{name}={os.environ.get(name)!r}: expected a share from 0 to 1, such as 0.2")
    return value


def _month(name: str, default: str) -> date:
    raw = os.environ.get(name) or default
    try:
        year, month = raw.strip().split("-")[:2]
        return date(int(year), int(month), 1)
    except ValueError:
        raise SettingError(f"{name}={raw!r}: expected a month as YYYY-MM") from None


WEEKDAYS = {"senin": 1, "selasa": 2, "rabu": 3, "kamis": 4, "jumat": 5, "sabtu": 6, "minggu": 7,
            "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 7}


def _weekday(name: str, default: int) -> int:
    """A day of the week as its ISO number (1 = Monday … 7 = Sunday) or its name (senin, monday)."""
    raw = (os.environ.get(name) or "").strip().lower().replace("'", "")
    if not raw:
        return default
    if raw.isdigit() and 1 <= int(raw) <= 7:
        return int(raw)
    if raw in WEEKDAYS:
        return WEEKDAYS[raw]
    raise SettingError(f"{name}={os.environ.get(name)!r}: expected a day of the week, 1 (Monday) to 7 (Sunday) "
                       "or its name (senin … minggu, monday … sunday)")


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
    reminder_days: int = 3                  # working days between two mails about the same open finding
    escalation_after_reminders: int = 2     # the reminder after this many is an escalation
    weekly_summary_day: int = 1             # ISO weekday of followup_overdue's weekly summary (1 = Monday)
    # The policy settings below default to their var in dbt_project.yml (as from_env does).
    # volume_anomaly: new complaints summed over this many working days
    volume_window_working_days: int = field(default_factory=lambda: _default("volume_window_working_days", int))
    # ... compared with the norm of the working days before the window
    volume_history_working_days: int = field(default_factory=lambda: _default("volume_history_working_days", int))
    # ... judged only with at least this much history
    volume_min_history_working_days: int = field(default_factory=lambda: _default("volume_min_history_working_days", int))
    # ... flagged below this share of the norm
    volume_min_ratio: float = field(default_factory=lambda: _default("volume_min_ratio", float))
    # ... and only when the norm expects at least this many
    volume_min_expected: float = field(default_factory=lambda: _default("volume_min_expected", float))
    # stale_export: this many unchanged working-day exports in a row
    stale_export_working_days: int = field(default_factory=lambda: _default("stale_export_working_days", int))
    bi_statement_timeout: str = "60s"
    sources_pool_slots: int = DEFAULT_POOL_SLOTS

    @classmethod
    def from_env(cls) -> "Settings":
        """The settings in the environment, every one checked (`SettingError` names the first
        wrong one)."""
        home = _home()
        exports = os.environ.get("LAPOR_EXPORTS_DIR")
        warehouse = (os.environ.get("LAPOR_WAREHOUSE_URL") or "").strip() or None
        if warehouse:
            parse_warehouse_url(warehouse)
        file_limits()  # read again where a file is read (lapor.readers.limits); checked here, at start, too
        operators_email()  # read again by the failure notice (the DAG); checked here, at start, too
        return cls(
            home=home,
            warehouse_url=warehouse,
            exports_dir=Path(exports).expanduser().resolve() if exports else home / "exports",
            smtp_url=_smtp_url("LAPOR_SMTP_URL"),
            coordinator_email=_address("LAPOR_COORDINATOR_EMAIL", DEFAULT_COORDINATOR_EMAIL),
            mail_from=mail_from(),
            registry_path=_existing_file("LAPOR_REGISTRY", DEFAULT_REGISTRY),
            followup_from=_month("LAPOR_FOLLOWUP_FROM", _default("followup_from", str)),
            followup_due_working_day=_int("LAPOR_FOLLOWUP_DUE_WORKING_DAY", _default("followup_due_working_day", int),
                                          minimum=1),
            followup_sla_working_days=_int("LAPOR_FOLLOWUP_SLA_WORKING_DAYS",
                                           _default("followup_sla_working_days", int), minimum=1),
            cuti_bersama_is_holiday=_bool("LAPOR_CUTI_BERSAMA_IS_HOLIDAY", _default("cuti_bersama_is_holiday", bool)),
            report_base_url=_web_url("LAPOR_REPORT_BASE_URL"),
            http_timeout=_float("LAPOR_HTTP_TIMEOUT", 30.0),
            http_retries=_int("LAPOR_HTTP_RETRIES", 4),
            http_backoff=_float("LAPOR_HTTP_BACKOFF", 1.0),
            reminder_days=_int("LAPOR_REMINDER_DAYS", 3, minimum=1),
            escalation_after_reminders=_int("LAPOR_ESCALATION_AFTER_REMINDERS", 2, minimum=0),
            weekly_summary_day=_weekday("LAPOR_WEEKLY_SUMMARY_DAY", 1),
            volume_window_working_days=_int("LAPOR_VOLUME_WINDOW_WORKING_DAYS",
                                            _default("volume_window_working_days", int), minimum=1),
            volume_history_working_days=_int("LAPOR_VOLUME_HISTORY_WORKING_DAYS",
                                             _default("volume_history_working_days", int), minimum=5),
            volume_min_history_working_days=_int("LAPOR_VOLUME_MIN_HISTORY_WORKING_DAYS",
                                                 _default("volume_min_history_working_days", int), minimum=1),
            volume_min_ratio=_ratio("LAPOR_VOLUME_MIN_RATIO", _default("volume_min_ratio", float)),
            volume_min_expected=_float("LAPOR_VOLUME_MIN_EXPECTED", _default("volume_min_expected", float)),
            stale_export_working_days=_int("LAPOR_STALE_EXPORT_WORKING_DAYS",
                                           _default("stale_export_working_days", int), minimum=1),
            bi_statement_timeout=_duration("LAPOR_BI_STATEMENT_TIMEOUT", "60s"),
            sources_pool_slots=_int("LAPOR_SOURCES_POOL_SLOTS", DEFAULT_POOL_SLOTS, minimum=1),
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
        """The policy settings the dbt models read as `var(...)` (their defaults are those vars
        in dbt_project.yml; passed on every run, so an environment variable reaches dbt)."""
        return {
            "followup_from": self.followup_from.isoformat(),
            "followup_due_working_day": self.followup_due_working_day,
            "followup_sla_working_days": self.followup_sla_working_days,
            "cuti_bersama_is_holiday": self.cuti_bersama_is_holiday,
            "volume_window_working_days": self.volume_window_working_days,
            "volume_history_working_days": self.volume_history_working_days,
            "volume_min_history_working_days": self.volume_min_history_working_days,
            "volume_min_ratio": self.volume_min_ratio,
            "volume_min_expected": self.volume_min_expected,
            "stale_export_working_days": self.stale_export_working_days,
        }
