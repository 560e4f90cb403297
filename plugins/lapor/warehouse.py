"""The warehouse: one PostgreSQL interface, chosen by `LAPOR_WAREHOUSE_URL`.

Unset, an embedded PostgreSQL 16 (the binaries of PyPI `pgserver`) is started under
`LAPOR_HOME/pgdata`, listening on 127.0.0.1 only, with generated passwords kept in
`LAPOR_HOME/warehouse.json` (mode 0600). It keeps running after the command that started
it, so later runs and BI tools reuse it; `lapor warehouse-stop` stops it.

Roles of the embedded warehouse: initdb's superuser `lapor_admin` only creates the database
and the roles (`EmbeddedServer.ensure_running`); the pipeline works as `lapor`, which owns the
database `lapor` and everything in it and is not a superuser (CREATEDB, for scratch and
benchmark databases, and nothing more); `bi_reader` reads the marts, with a statement timeout
(`LAPOR_BI_STATEMENT_TIMEOUT`) and no temporary tables. A LAPOR_HOME of an older version, where
`lapor` was initdb's superuser, is migrated on its next start: that role is renamed
`lapor_admin` (initdb's superuser cannot lose its rights) and a new `lapor` with the same
password takes over the database.

Secrets never reach a log: `mask()` hides the password of any URL and every password this
process knows (`register_secret`), `SecretsFilter` applies it to log records, and the
passwords are registered with Airflow's secrets masker too.

PostgreSQL refuses to run as root: when this process is root the server runs as the
unprivileged system user `pgserver` (created by pgserver's helper when missing).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg

from lapor.settings import PACKAGE_DIR, Settings

# pgserver's import asks platformdirs for a runtime folder it does not use here.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DATABASE = "lapor"
OWNER = "lapor"
ADMIN = "lapor_admin"  # the embedded warehouse's superuser: databases and roles, never a night's work
MIGRATOR = "lapor_migrate"  # a superuser that exists only while an older LAPOR_HOME is migrated
BI_ROLE = "bi_reader"
SCHEMA_SQL = PACKAGE_DIR / "sql" / "schema.sql"
log = logging.getLogger(__name__)


# -- secrets in logs ---------------------------------------------------------------------------
_SECRETS: set[str] = set()
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s'\"]*):(?P<pw>[^@/\s'\"]+)@")


def register_secret(value: str | None) -> None:
    """Never log `value`: kept for `mask()` and given to Airflow's secrets masker when Airflow is
    loaded (task logs under the scheduler)."""
    if not value or len(value) < 4:
        return
    if value not in _SECRETS:
        _SECRETS.add(value)
        if "airflow.sdk" in sys.modules:
            with contextlib.suppress(Exception):
                from airflow.sdk.log import mask_secret

                mask_secret(value)


def mask(text: str) -> str:
    """`text` with the password of every URL in it and every registered secret replaced by ***."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@", text)
    for value in sorted(_SECRETS, key=len, reverse=True):
        if value in text:
            text = text.replace(value, "***")
    return text


class SecretsFilter(logging.Filter):
    """On a handler: masks its records' message, exception and stack text (`mask`)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):
            message = record.getMessage()
            masked = mask(message)
            if masked != message:
                record.msg, record.args = masked, None
            if record.exc_info and not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = mask(record.exc_text)
            if record.stack_info:
                record.stack_info = mask(record.stack_info)
        return True


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or started; the message says what to do."""


@dataclass(frozen=True)
class EmbeddedCredentials:
    port: int
    password: str
    bi_password: str
    admin_password: str | None = None  # missing in the warehouse.json of older versions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedServer:
    """A PostgreSQL server in `LAPOR_HOME/pgdata`, on 127.0.0.1 at a port chosen once."""

    def __init__(self, home: Path):
        self.home = home
        self.pgdata = home / "pgdata"
        self.credentials_file = home / "warehouse.json"
        self.log_file = self.pgdata / "server.log"

    # -- helpers -------------------------------------------------------------------------
    @property
    def _bin(self) -> Path:
        from pgserver._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    @property
    def _system_user(self) -> str | None:
        return "pgserver" if os.geteuid() == 0 else None

    def _prepare_root_access(self) -> None:
        """As root, let the `pgserver` user reach the binaries and own the data folder."""
        import pwd
        import stat

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists("pgserver")
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self._bin)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(self._bin, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(self._bin.parent / "lib", read)
        entry = pwd.getpwnam("pgserver")
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _run(self, exe: str, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self._bin / exe), *args], user=self._system_user, capture_output=True, text=True, **kwargs
        )

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".warehouse.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _credentials(self) -> EmbeddedCredentials:
        if self.credentials_file.exists():
            creds = EmbeddedCredentials(**json.loads(self.credentials_file.read_text()))
        else:
            creds = EmbeddedCredentials(port=_free_port(), password=secrets.token_urlsafe(18),
                                        bi_password=secrets.token_urlsafe(18))
        if not creds.admin_password:  # a new home, or one of an older version (migrated on start)
            creds = dataclasses.replace(creds, admin_password=secrets.token_urlsafe(18))
            self._save(creds)
        for value in (creds.password, creds.bi_password, creds.admin_password):
            register_secret(value)
        return creds

    def _save(self, creds: EmbeddedCredentials) -> None:
        tmp = self.credentials_file.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(json.dumps(creds.__dict__, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.credentials_file)

    def _running(self) -> bool:
        result = self._run("pg_ctl", ["-D", str(self.pgdata), "status"])
        return result.returncode == 0

    # -- public --------------------------------------------------------------------------
    def url(self, creds: EmbeddedCredentials, role: str = OWNER, database: str | None = None) -> str:
        password = {OWNER: creds.password, BI_ROLE: creds.bi_password}.get(role, creds.admin_password)
        return f"postgresql://{role}:{password}@127.0.0.1:{creds.port}/{database or DATABASE}"

    def ensure_running(self, provision: bool = True, bi_statement_timeout: str | None = None) -> EmbeddedCredentials:
        """Start the server if needed; with `provision`, make sure of the roles and the database
        (as `lapor_admin`), migrating a LAPOR_HOME of an older version."""
        with self._lock():
            self.pgdata.mkdir(parents=True, exist_ok=True)
            if self._system_user:
                self._prepare_root_access()
            creds = self._credentials()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(creds)
            if not self._running():
                if _port_open(creds.port):  # someone else took our port meanwhile
                    creds = dataclasses.replace(creds, port=_free_port())
                    self._save(creds)
                self._start(creds)
            if provision:
                timeout = bi_statement_timeout or Settings.from_env().bi_statement_timeout
                self._provision(creds, timeout)
            return creds

    def _initdb(self, creds: EmbeddedCredentials) -> None:
        pwfile = self.home / ".initdb-password"
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(creds.admin_password + "\n")
        pwfile.chmod(0o600)
        if self._system_user:
            import pwd

            entry = pwd.getpwnam(self._system_user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            result = self._run(
                "initdb",
                ["-D", str(self.pgdata), "-U", ADMIN, f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C",
                 "--auth-host=scram-sha-256", "--auth-local=scram-sha-256"],
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise WarehouseError(f"initdb failed in {self.pgdata}:\n{result.stderr.strip()}")

    def _start(self, creds: EmbeddedCredentials) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {creds.port} -c unix_socket_directories=''"
        result = self._run(
            "pg_ctl", ["-D", str(self.pgdata), "-l", str(self.log_file), "-o", options, "-w", "-t", "60", "start"]
        )
        if result.returncode != 0:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise WarehouseError(
                f"the embedded PostgreSQL in {self.pgdata} did not start:\n{result.stderr.strip()}\n{log}"
            )

    def _admin_connection(self, creds: EmbeddedCredentials, database: str = "postgres") -> psycopg.Connection:
        """A connection as `lapor_admin`, waiting for a server that is starting up. A home of an
        older version has no `lapor_admin` yet: `_take_over_bootstrap` makes it first."""
        deadline = time.monotonic() + 30
        migrated = False
        while True:
            try:
                return psycopg.connect(self.url(creds, ADMIN, database), autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc) and not migrated:
                    self._take_over_bootstrap(creds)
                    migrated = True
                    continue
                if time.monotonic() > deadline:
                    raise WarehouseError(f"the embedded warehouse in {self.pgdata} refuses its administrator "
                                         f"{ADMIN}: {exc}".strip()) from exc
                time.sleep(0.3)

    def _take_over_bootstrap(self, creds: EmbeddedCredentials) -> None:
        """An older version ran `initdb -U lapor`: the pipeline's role is initdb's superuser, which
        PostgreSQL never lets lose its rights. Rename it `lapor_admin` (with the administrator's
        password of warehouse.json); `_provision` then creates an ordinary `lapor` and hands it
        the databases. Each step is safe to repeat after an interruption."""
        from psycopg import sql

        with psycopg.connect(self.url(creds, OWNER, "postgres"), autocommit=True, connect_timeout=5) as conn:
            if not conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]:
                raise WarehouseError(f"the embedded warehouse in {self.pgdata} has no role {ADMIN} and {OWNER} is "
                                     "not its superuser: it cannot be set up")
            log.warning("migrating %s: %s becomes an ordinary role, the superuser is now %s", self.pgdata, OWNER, ADMIN)
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (MIGRATOR,)).fetchone()
            conn.execute(sql.SQL("{} role {} with superuser login password {}").format(
                sql.SQL("alter" if exists else "create"), sql.Identifier(MIGRATOR), sql.Literal(creds.admin_password)))
        migrator = f"postgresql://{MIGRATOR}:{creds.admin_password}@127.0.0.1:{creds.port}/postgres"
        with psycopg.connect(migrator, autocommit=True, connect_timeout=5) as conn:
            if not conn.execute("select 1 from pg_roles where rolname = %s", (ADMIN,)).fetchone():
                conn.execute(sql.SQL("alter role {} rename to {}").format(sql.Identifier(OWNER), sql.Identifier(ADMIN)))
            conn.execute(sql.SQL("alter role {} with password {}").format(
                sql.Identifier(ADMIN), sql.Literal(creds.admin_password)))

    def _provision(self, creds: EmbeddedCredentials, bi_statement_timeout: str) -> None:
        """As `lapor_admin`: the roles `lapor` (owner, not a superuser) and `bi_reader`, the database
        `lapor` owned by `lapor`. Changes only what differs (this runs at every start of a task)."""
        from psycopg import sql

        with self._admin_connection(creds) as conn:
            row = conn.execute("select rolsuper, rolcreatedb, rolcreaterole, rolcanlogin from pg_roles "
                               "where rolname = %s", (OWNER,)).fetchone()
            if row is None:
                conn.execute(sql.SQL("create role {} with login nosuperuser createdb password {}").format(
                    sql.Identifier(OWNER), sql.Literal(creds.password)))
            elif tuple(row) != (False, True, False, True):
                conn.execute(sql.SQL("alter role {} with login nosuperuser createdb nocreaterole").format(
                    sql.Identifier(OWNER)))
            if not conn.execute("select 1 from pg_roles where rolname = %s", (BI_ROLE,)).fetchone():
                conn.execute(sql.SQL("create role {} with login password {}").format(
                    sql.Identifier(BI_ROLE), sql.Literal(creds.bi_password)))
            _set_statement_timeout(conn, bi_statement_timeout)
            if not conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone():
                conn.execute(sql.SQL("create database {} owner {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(OWNER)))
            inherited = [name for (name,) in conn.execute(
                "select datname from pg_database where datdba = (select oid from pg_roles where rolname = %s) "
                "and datname not in ('postgres', 'template0', 'template1')", (ADMIN,))]
            if conn.execute("select 1 from pg_roles where rolname = %s", (MIGRATOR,)).fetchone():
                conn.execute(sql.SQL("drop role {}").format(sql.Identifier(MIGRATOR)))
        for name in inherited:  # the databases of an older version, made by its superuser `lapor`
            with self._admin_connection(creds, name) as conn:
                _hand_over(conn, name, ADMIN, OWNER)

    def stop(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists() or not self._running():
            return False
        self._run("pg_ctl", ["-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        return True


def _set_statement_timeout(conn: psycopg.Connection, value: str) -> None:
    """`alter role bi_reader set statement_timeout`, when it is not that already."""
    from psycopg import sql

    current = conn.execute(
        "select setconfig from pg_db_role_setting where setdatabase = 0 "
        "and setrole = (select oid from pg_roles where rolname = %s)", (BI_ROLE,)).fetchone()
    if current and f"statement_timeout={value}" in (current[0] or []):
        return
    conn.execute(sql.SQL("alter role {} set statement_timeout = {}").format(
        sql.Identifier(BI_ROLE), sql.Literal(value)))


def _hand_over(conn: psycopg.Connection, database: str, old: str, new: str) -> None:
    """Give every object of `database` that `old` owns outside the system schemas to `new`, then
    the database itself (last, so that an interrupted hand-over is taken up again). REASSIGN
    OWNED cannot do it: `old` is initdb's superuser, which owns the system catalogs."""
    from psycopg import sql

    user_objects = "not like 'pg\\_%%' and n.nspname <> 'information_schema'"
    target = sql.Identifier(new)
    owner = conn.execute("select oid from pg_roles where rolname = %s", (old,)).fetchone()[0]
    for (schema,) in conn.execute(
            f"select nspname from pg_namespace n where nspowner = %s and n.nspname {user_objects}", (owner,)).fetchall():
        conn.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(schema), target))
    kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table", "S": "sequence"}
    for kind in ["r", "p", "v", "m", "f", "S"]:  # a table takes its indexes and own sequences along
        for (relation,) in conn.execute(
                f"select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                f"where c.relowner = %s and c.relkind = %s and n.nspname {user_objects}", (owner, kind)).fetchall():
            conn.execute(sql.SQL("alter {} {} owner to {}").format(sql.SQL(kinds[kind]), sql.SQL(relation), target))
    for routine, prokind in conn.execute(
            f"select p.oid::regprocedure::text, p.prokind from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
            f"where p.proowner = %s and n.nspname {user_objects}", (owner,)).fetchall():
        word = {"p": "procedure", "a": "aggregate"}.get(prokind, "function")
        conn.execute(sql.SQL("alter {} {} owner to {}").format(sql.SQL(word), sql.SQL(routine), target))
    for (typ,) in conn.execute(
            f"select t.oid::regtype::text from pg_type t join pg_namespace n on n.oid = t.typnamespace "
            f"left join pg_class c on c.oid = t.typrelid where t.typowner = %s and n.nspname {user_objects} "
            f"and (t.typtype in ('d', 'e', 'r') or (t.typtype = 'c' and c.relkind = 'c'))", (owner,)).fetchall():
        conn.execute(sql.SQL("alter type {} owner to {}").format(sql.SQL(typ), target))
    conn.execute(sql.SQL("alter database {} owner to {}").format(sql.Identifier(database), target))


def warehouse_url(settings: Settings | None = None) -> str:
    """The owner's URL of the warehouse in use, starting the embedded one when needed."""
    settings = settings or Settings.from_env()
    if settings.warehouse_url:
        register_secret(urlsplit(settings.warehouse_url).password)
        return settings.warehouse_url
    server = EmbeddedServer(settings.home)
    return server.url(server.ensure_running(bi_statement_timeout=settings.bi_statement_timeout))


def bi_reader_url(settings: Settings | None = None) -> str:
    """The URL a BI tool uses: the read-only role `bi_reader` on the same server."""
    settings = settings or Settings.from_env()
    if not settings.warehouse_url:
        server = EmbeddedServer(settings.home)
        return server.url(server.ensure_running(bi_statement_timeout=settings.bi_statement_timeout), role=BI_ROLE)
    parts = urlsplit(settings.warehouse_url)
    password = os.environ.get("LAPOR_BI_PASSWORD", "")
    register_secret(password)
    host = parts.hostname or ""
    netloc = f"{BI_ROLE}:{password}@{host}" if password else f"{BI_ROLE}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def bi_password(settings: Settings) -> str | None:
    if settings.warehouse_url:
        return os.environ.get("LAPOR_BI_PASSWORD") or None
    return EmbeddedServer(settings.home)._credentials().bi_password


def connect(url: str, **kwargs) -> psycopg.Connection:
    register_secret(urlsplit(url).password)
    try:
        return psycopg.connect(url, connect_timeout=15, **kwargs)
    except psycopg.OperationalError as exc:
        safe = redact(url)
        raise WarehouseError(mask(f"cannot connect to the warehouse at {safe}: {exc}".strip())) from exc


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


CHECK_SUBJECTS_MARK = "/*check_subjects*/"


def _sql_text(value: str) -> str:
    """A text constant (standard_conforming_strings, on since PostgreSQL 9.1)."""
    if "\x00" in value:
        raise ValueError(f"a NUL character in {value!r}")
    return "'" + value.replace("'", "''") + "'"


def schema_sql() -> str:
    """schema.sql with the checks' finding subjects of the seed coordinator_checks.csv
    (lapor.vocabulary.checks(): check_name, subject, subject_label) written into the view
    quality.findings, where it says /*check_subjects*/: the seed is their one home."""
    from lapor import vocabulary

    rows = [(c.name, c.subject, c.subject_label) for c in vocabulary.checks() if c.subject]
    values = ("values " + ",\n           ".join("(" + ", ".join(map(_sql_text, row)) + ")" for row in rows)
              if rows else "select null::text, null::text, null::text where false")
    text = SCHEMA_SQL.read_text()
    if text.count(CHECK_SUBJECTS_MARK) != 1:
        raise RuntimeError(f"{SCHEMA_SQL}: expected {CHECK_SUBJECTS_MARK} once, in the view quality.findings")
    return text.replace(CHECK_SUBJECTS_MARK, values)


def ensure_schema(url: str, settings: Settings) -> None:
    """Create the landing, raw, reference and quality tables and the read-only BI role.

    Idempotent: safe on every run. The marts are dbt's; their grants come from dbt_project.yml.
    With the embedded warehouse its administrator has made the roles already
    (`EmbeddedServer.ensure_running`); with LAPOR_WAREHOUSE_URL the URL's user makes or keeps
    `bi_reader` in step as far as its rights allow (docker/postgres/init.sql gives it those).
    """
    with connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(727001)")
        try:
            conn.execute(schema_sql())
            if settings.warehouse_url:
                _ensure_bi_role(conn, bi_password(settings), settings.bi_statement_timeout)
            _grant_bi_reader(conn)
            _restrict_temporary_tables(conn)
        finally:
            conn.execute("select pg_advisory_unlock(727001)")


def _ensure_bi_role(conn: psycopg.Connection, password: str | None, statement_timeout: str) -> None:
    from psycopg import sql

    exists = conn.execute("select 1 from pg_roles where rolname = %s", (BI_ROLE,)).fetchone()
    try:
        if not exists:
            conn.execute(sql.SQL("create role {} login").format(sql.Identifier(BI_ROLE)))
        if password:
            conn.execute(sql.SQL("alter role {} with login password {}").format(
                sql.Identifier(BI_ROLE), sql.Literal(password)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise WarehouseError(
            f"the warehouse user may not create or alter the role {BI_ROLE}: "
            f"create it once as an administrator (create role {BI_ROLE} login password '…')"
        ) from exc
    try:
        _set_statement_timeout(conn, statement_timeout)
    except psycopg.errors.InsufficientPrivilege:
        # a role made by the warehouse's administrator: the night goes on, the operator is told how
        log.warning("the warehouse user may not set the statement timeout of %s: as an administrator run "
                    "alter role %s set statement_timeout = '%s'", BI_ROLE, BI_ROLE, statement_timeout)


def _grant_bi_reader(conn: psycopg.Connection) -> None:
    from psycopg import sql

    conn.execute(sql.SQL("create schema if not exists marts"))
    conn.execute(sql.SQL("grant usage on schema marts to {}").format(sql.Identifier(BI_ROLE)))
    conn.execute(sql.SQL("alter default privileges in schema marts grant select on tables to {}").format(
        sql.Identifier(BI_ROLE)))
    conn.execute(sql.SQL("revoke all on schema public from public"))


def _restrict_temporary_tables(conn: psycopg.Connection) -> None:
    """Only the pipeline's role creates temporary tables (the loader stages each export in one);
    PostgreSQL lets every role (PUBLIC) do so by default, `bi_reader` included."""
    from psycopg import sql

    database = sql.Identifier(conn.execute("select current_database()").fetchone()[0])
    if not conn.execute("select has_database_privilege(current_user, current_database(), 'TEMP')").fetchone()[0] \
            or conn.execute("select has_database_privilege('public', current_database(), 'TEMP')").fetchone()[0]:
        try:
            conn.execute(sql.SQL("grant temporary on database {} to current_user").format(database))
            conn.execute(sql.SQL("revoke temporary on database {} from public").format(database))
        except psycopg.errors.InsufficientPrivilege:
            log.warning("the warehouse user does not own the database: as its owner run "
                        "revoke temporary on database %s from public (bi_reader may create temporary tables)",
                        database.as_string(conn))
