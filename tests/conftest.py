"""Shared fixtures: one LAPOR_HOME for the session, with a real embedded PostgreSQL server,
a real SMTP server (aiosmtpd) and the deterministic sample drop folder.

The environment is set in `pytest_configure`, before any test imports Airflow (which reads
its configuration once, at import).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import socket
import tempfile
import threading
import uuid
from email import message_from_bytes, policy
from pathlib import Path

import psycopg
import pytest

SAMPLE_SCALE = 0.25
_HOME: Path | None = None


def pytest_configure(config):
    global _HOME
    # World-traversable: the embedded server runs as the unprivileged user `pgserver` under root.
    base = Path(tempfile.mkdtemp(prefix="lapor-test-"))
    base.chmod(0o755)
    _HOME = base / "home"
    _HOME.mkdir()
    os.environ["LAPOR_HOME"] = str(_HOME)
    for key in ("LAPOR_WAREHOUSE_URL", "LAPOR_EXPORTS_DIR", "LAPOR_SMTP_URL", "LAPOR_REGISTRY", "AIRFLOW_HOME"):
        os.environ.pop(key, None)
    from lapor.runner import configure_airflow
    from lapor.settings import Settings

    configure_airflow(Settings.from_env())


def pytest_unconfigure(config):
    if _HOME is None:
        return
    from lapor.warehouse import EmbeddedServer

    try:
        EmbeddedServer(_HOME).stop()
    finally:
        shutil.rmtree(_HOME.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def lapor_home() -> Path:
    assert _HOME is not None
    return _HOME


@pytest.fixture(scope="session")
def settings(lapor_home):
    from lapor.settings import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def warehouse(settings) -> str:
    """The owner's URL of the session's embedded warehouse, with the pipeline's tables."""
    from lapor.warehouse import ensure_schema, warehouse_url

    url = warehouse_url(settings)
    ensure_schema(url, settings)
    return url


def _drop_database(home: Path, name: str) -> None:
    """Drop a test database on the session's server, as its superuser `lapor_admin`.

    `drop database ... with (force)` must end every session still in the database; the owner
    `lapor` may end only its own, not an autovacuum worker that happens to be analysing the
    test's fresh tables (seen in CI: "permission denied to terminate process")."""
    from psycopg import sql

    from lapor.warehouse import EmbeddedServer

    server = EmbeddedServer(home)  # the session's server (a test module importing conftest sees no _HOME)
    with server._admin_connection(server._credentials()) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@contextlib.contextmanager
def _scratch_database(settings, warehouse: str, folder: Path):
    """A fresh database on the session's server and settings that point at it."""
    from lapor.warehouse import ensure_schema

    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = warehouse.rsplit("/", 1)[0] + f"/{name}"
    local = dataclasses.replace(settings, warehouse_url=url, home=folder / "home")
    ensure_schema(url, local)
    try:
        yield local, url, folder / "exports"
    finally:
        _drop_database(settings.home, name)


@pytest.fixture(scope="session")
def drop_database(settings, warehouse):
    """`drop_database(name)`: drops a test database on the session's server, whoever is in it."""
    return functools.partial(_drop_database, settings.home)


@pytest.fixture()
def scratch(settings, warehouse, tmp_path):
    """(settings, url, exports folder) of a fresh database, for one test."""
    with _scratch_database(settings, warehouse, tmp_path) as value:
        yield value


@pytest.fixture(scope="module")
def scratch_module(settings, warehouse, tmp_path_factory):
    """(settings, url, exports folder) of a fresh database shared by one test module."""
    with _scratch_database(settings, warehouse, tmp_path_factory.mktemp("scratch")) as value:
        yield value


@pytest.fixture(scope="session")
def sample_exports(lapor_home) -> Path:
    from lapor.dev.generate import generate_sample_exports

    folder = lapor_home / "sample-exports"
    generate_sample_exports(folder, scale=SAMPLE_SCALE)
    return folder


class Mailbox:
    """Messages received by the test SMTP server, parsed."""

    def __init__(self):
        self.messages: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def clear(self):
        with self.lock:
            self.messages.clear()


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server on 127.0.0.1; yields (url, mailbox)."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", mailbox
    finally:
        controller.stop()
