"""The warehouse: one PostgreSQL interface, chosen by `LAPOR_WAREHOUSE_URL`.

Unset, an embedded PostgreSQL 16 (the binaries of PyPI `pgserver`) is started under
`LAPOR_HOME/pgdata`, listening on 127.0.0.1 only, with a generated password kept in
`LAPOR_HOME/warehouse.json` (mode 0600). It keeps running after the command that started
it, so later runs and BI tools reuse it; `lapor warehouse-stop` stops it.

PostgreSQL refuses to run as root: when this process is root the server runs as the
unprivileged system user `pgserver` (created by pgserver's helper when missing).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import subprocess
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
BI_ROLE = "bi_reader"
SCHEMA_SQL = PACKAGE_DIR / "sql" / "schema.sql"


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or started; the message says what to do."""


@dataclass(frozen=True)
class EmbeddedCredentials:
    port: int
    password: str
    bi_password: str


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
            return EmbeddedCredentials(**json.loads(self.credentials_file.read_text()))
        creds = EmbeddedCredentials(
            port=_free_port(), password=secrets.token_urlsafe(18), bi_password=secrets.token_urlsafe(18)
        )
        self._save(creds)
        return creds

    def _save(self, creds: EmbeddedCredentials) -> None:
        tmp = self.credentials_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(creds.__dict__, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.credentials_file)

    def _running(self) -> bool:
        result = self._run("pg_ctl", ["-D", str(self.pgdata), "status"])
        return result.returncode == 0

    # -- public --------------------------------------------------------------------------
    def url(self, creds: EmbeddedCredentials, role: str = OWNER) -> str:
        password = creds.password if role == OWNER else creds.bi_password
        return f"postgresql://{role}:{password}@127.0.0.1:{creds.port}/{DATABASE}"

    def ensure_running(self) -> EmbeddedCredentials:
        with self._lock():
            self.pgdata.mkdir(parents=True, exist_ok=True)
            if self._system_user:
                self._prepare_root_access()
            creds = self._credentials()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(creds)
            if not self._running():
                if _port_open(creds.port):  # someone else took our port meanwhile
                    creds = EmbeddedCredentials(_free_port(), creds.password, creds.bi_password)
                    self._save(creds)
                self._start(creds)
            self._ensure_database(creds)
            return creds

    def _initdb(self, creds: EmbeddedCredentials) -> None:
        pwfile = self.home / ".initdb-password"
        pwfile.write_text(creds.password + "\n")
        pwfile.chmod(0o600)
        if self._system_user:
            import pwd

            entry = pwd.getpwnam(self._system_user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            result = self._run(
                "initdb",
                ["-D", str(self.pgdata), "-U", OWNER, f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C",
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

    def _ensure_database(self, creds: EmbeddedCredentials) -> None:
        admin = f"postgresql://{OWNER}:{creds.password}@127.0.0.1:{creds.port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                    if not conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone():
                        conn.execute(f'create database "{DATABASE}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists() or not self._running():
            return False
        self._run("pg_ctl", ["-D", str(self.pgdata), "-m", "fast", "-w", "stop"])
        return True


def warehouse_url(settings: Settings | None = None) -> str:
    """The owner's URL of the warehouse in use, starting the embedded one when needed."""
    settings = settings or Settings.from_env()
    if settings.warehouse_url:
        return settings.warehouse_url
    server = EmbeddedServer(settings.home)
    return server.url(server.ensure_running())


def bi_reader_url(settings: Settings | None = None) -> str:
    """The URL a BI tool uses: the read-only role `bi_reader` on the same server."""
    settings = settings or Settings.from_env()
    if not settings.warehouse_url:
        server = EmbeddedServer(settings.home)
        return server.url(server.ensure_running(), role=BI_ROLE)
    parts = urlsplit(settings.warehouse_url)
    password = os.environ.get("LAPOR_BI_PASSWORD", "")
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
    try:
        return psycopg.connect(url, connect_timeout=15, **kwargs)
    except psycopg.OperationalError as exc:
        safe = redact(url)
        raise WarehouseError(f"cannot connect to the warehouse at {safe}: {exc}".strip()) from exc


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def ensure_schema(url: str, settings: Settings) -> None:
    """Create the landing, raw, reference and quality tables and the read-only BI role.

    Idempotent: safe on every run. The marts are dbt's; their grants come from dbt_project.yml.
    """
    with connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(727001)")
        try:
            conn.execute(SCHEMA_SQL.read_text())
            _ensure_bi_role(conn, bi_password(settings))
        finally:
            conn.execute("select pg_advisory_unlock(727001)")


def _ensure_bi_role(conn: psycopg.Connection, password: str | None) -> None:
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
    conn.execute(sql.SQL("create schema if not exists marts"))
    conn.execute(sql.SQL("grant usage on schema marts to {}").format(sql.Identifier(BI_ROLE)))
    conn.execute(sql.SQL("alter default privileges in schema marts grant select on tables to {}").format(
        sql.Identifier(BI_ROLE)))
    conn.execute(sql.SQL("revoke all on schema public from public"))
