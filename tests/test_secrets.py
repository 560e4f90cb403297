"""Secrets stay secret (issue 13, defect 6 and part of 10).

A real night (`lapor run`, the command an operator types, so the task logs go to
`LAPOR_HOME/logs/lapor.log` as they do in production), then: no file under LAPOR_HOME that its
group or the world may read holds a warehouse password; the pipeline works as a role that is
not a superuser; `bi_reader` can neither run forever nor create temporary tables. And a
LAPOR_HOME made by an older version, whose `lapor` role was the superuser, is migrated.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import psycopg
import pytest

NIGHT = date(2021, 5, 27)


def _passwords(home: Path) -> dict[str, str]:
    """Every password the embedded warehouse keeps in warehouse.json (the owner's, bi_reader's,
    the administrator's)."""
    creds = json.loads((home / "warehouse.json").read_text())
    found = {k: v for k, v in creds.items() if "password" in k and v}
    assert {"password", "bi_password"} <= set(found), creds.keys()
    return found


def _exposed_files(home: Path, passwords: dict[str, str]) -> list[str]:
    """Files group- or world-readable (`find -perm /044`) that contain one of the passwords."""
    listed = subprocess.run(["find", str(home), "-type", "f", "-perm", "/044"], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert listed, "find listed nothing: the walk cannot have looked at the night's files"
    leaks = []
    for name in listed:
        try:
            data = Path(name).read_bytes()
        except OSError:
            continue
        leaks += [f"{name} ({which})" for which, value in passwords.items() if value.encode() in data]
    return leaks


@pytest.fixture(scope="module")
def night(settings, sample_exports):
    """`lapor backfill` of 26 and 27 May 2021 in a LAPOR_HOME of its own (its own embedded
    warehouse and Airflow folder), as an operator runs it: two nights, so the second one starts
    from everything the first left (Great Expectations, for one, logs the datasources it loads).

    Not the session's LAPOR_HOME: its alerts of 26 May would make the seed scenario's 27 May
    a reminder day for Blitar (tests/test_seed_scenario.py)."""
    import dataclasses
    import shutil
    import tempfile

    from lapor.warehouse import EmbeddedServer

    base = Path(tempfile.mkdtemp(prefix="lapor-secrets-"))
    base.chmod(0o755)  # the embedded server runs as the unprivileged user pgserver
    home = base / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.pop("LAPOR_WAREHOUSE_URL", None)
    env["LAPOR_HOME"] = str(home)
    try:
        proc = subprocess.run([sys.executable, "-m", "lapor.cli", "backfill", "--start", "2021-05-26",
                               "--end", NIGHT.isoformat(), "--exports", str(sample_exports)], env=env,
                              capture_output=True, text=True, timeout=3600)
        log_file = home / "logs" / "lapor.log"
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + (
            log_file.read_text()[-5000:] if log_file.exists() else "")
        yield dataclasses.replace(settings, home=home, warehouse_url=None)
    finally:
        try:
            EmbeddedServer(home).stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


def test_no_readable_file_under_lapor_home_holds_a_password(night):
    home = night.home
    log_text = (home / "logs" / "lapor.log").read_text()
    assert "ingest_agency" in log_text and "transform" in log_text, "the night left no task logs to look at"
    gx_config = home / "gx" / "great_expectations.yml"
    assert gx_config.exists()
    leaks = _exposed_files(home, _passwords(home))
    assert leaks == [], "files readable by others hold a password:\n" + "\n".join(leaks)


def test_great_expectations_config_holds_no_secret_at_all(night):
    """GX reads the connection string from a config variable, not from its own config file."""
    passwords = _passwords(night.home)
    config = (night.home / "gx" / "great_expectations.yml").read_text()
    assert "postgresql" not in config.split("connection_string", 1)[-1].splitlines()[0]
    assert "${" in config
    assert not any(p in config for p in passwords.values())
    for path in (night.home / "gx").rglob("*"):
        if path.is_file() and path.stat().st_mode & 0o044:
            data = path.read_bytes()
            assert not any(p.encode() in data for p in passwords.values()), path


def test_the_night_runs_as_a_role_that_is_not_a_superuser(night):
    from lapor.warehouse import warehouse_url

    with psycopg.connect(warehouse_url(night), autocommit=True) as conn:
        user, superuser = conn.execute(
            "select current_user, rolsuper from pg_roles where rolname = current_user").fetchone()
        assert (user, superuser) == ("lapor", False)
        owners = dict(conn.execute(
            "select nspname, pg_get_userbyid(nspowner) from pg_namespace "
            "where nspname in ('raw', 'ref', 'quality', 'staging', 'intermediate', 'marts')").fetchall())
        assert owners == dict.fromkeys(["raw", "ref", "quality", "staging", "intermediate", "marts"], "lapor")
        assert conn.execute("select count(*) from marts.fct_complaints").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("alter system set work_mem = '1GB'")


def test_bi_reader_has_a_statement_timeout_and_no_temporary_tables(night):
    from lapor.warehouse import bi_reader_url, warehouse_url

    settings = night
    with psycopg.connect(warehouse_url(settings), autocommit=True) as conn:
        conn.execute("set statement_timeout = '60s'")  # LAPOR_BI_STATEMENT_TIMEOUT's default
        expected = conn.execute("show statement_timeout").fetchone()[0]
    with psycopg.connect(bi_reader_url(settings), autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "bi_reader"
        assert conn.execute("show statement_timeout").fetchone()[0] == expected
        assert conn.execute("select count(*) from marts.agency_scorecard").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary"):
            conn.execute("create temp table probe (n int)")
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("set statement_timeout = '1s'")
            conn.execute("select pg_sleep(3)")


def test_log_lines_never_carry_the_warehouse_password(tmp_path):
    """Whatever a task logs through the handler `lapor run` installs (a URL in a message, in an
    exception's text or traceback, a bare password), the log file shows it masked."""
    home = tmp_path / "home"
    script = (
        "import logging, sys\n"
        "from lapor.cli import _quiet_airflow_logs\n"
        "from lapor.settings import Settings\n"
        "from lapor import warehouse\n"
        "settings = Settings.from_env()\n"
        "url = 'postgresql://lapor:S3cretPw-xyz@127.0.0.1:5999/lapor'\n"
        "warehouse.register_secret('Bare-Secret-123')\n"
        "_quiet_airflow_logs(settings)\n"
        "log = logging.getLogger('lapor.probe')\n"
        "log.error('cannot connect to %s', url)\n"
        "log.warning('dsn=' + url.replace('postgresql', 'postgresql+psycopg2'))\n"
        "log.info('password %s in a message', 'Bare-Secret-123')\n"
        "try:\n"
        "    raise RuntimeError('engine failed for ' + url)\n"
        "except RuntimeError:\n"
        "    log.exception('GX failed')\n"
    )
    env = {**os.environ, "LAPOR_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = (home / "logs" / "lapor.log").read_text()
    assert "cannot connect to postgresql://lapor:***@127.0.0.1:5999/lapor" in text
    assert "GX failed" in text and "engine failed for" in text
    assert "S3cretPw-xyz" not in text and "Bare-Secret-123" not in text
    assert (home / "logs" / "lapor.log").stat().st_mode & 0o077 == 0


def test_task_output_written_to_the_log_is_masked(tmp_path):
    """Airflow's own task log lines, dbt's and GX's reach lapor.log as the process's stdout and
    stderr (`runner._output_to`), not through a logging handler of ours: masked all the same,
    a child process's output included."""
    log_file = tmp_path / "lapor.log"
    script = (
        "import os, subprocess, sys\n"
        "from pathlib import Path\n"
        "from lapor import runner, warehouse\n"
        "warehouse.register_secret('Bare-Secret-456')\n"
        "with runner._output_to(Path(sys.argv[1])):\n"
        "    print(\"{'connection_string': 'postgresql+psycopg2://lapor:S3cretPw-abc@127.0.0.1:5999/lapor'}\")\n"
        "    os.write(2, b'stderr: token Bare-Secret-456\\n')\n"
        "    subprocess.run(['echo', 'child: postgresql://bi_reader:Child-Pw-789@127.0.0.1/lapor'])\n"
        "print('back on the terminal')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(log_file)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "back on the terminal"
    text = log_file.read_text()
    assert "postgresql+psycopg2://lapor:***@127.0.0.1:5999/lapor" in text
    assert "stderr: token ***" in text and "child: postgresql://bi_reader:***@127.0.0.1/lapor" in text
    assert "S3cretPw-abc" not in text and "Bare-Secret-456" not in text and "Child-Pw-789" not in text
    assert log_file.stat().st_mode & 0o077 == 0


def test_a_lapor_home_of_an_older_version_is_migrated(monkeypatch):
    """An older version ran `initdb -U lapor`: the pipeline's role was the superuser. The next
    start makes an administrator role for role management and leaves `lapor` an ordinary
    owner of its database and everything in it, with the data kept."""
    from lapor import warehouse
    from lapor.settings import Settings

    root = Path(tempfile.mkdtemp(prefix="lapor-legacy-"))
    root.chmod(0o755)  # as root the server runs as the user `pgserver`: it must reach its folder
    home = root / "home"
    home.mkdir()
    server = warehouse.EmbeddedServer(home)
    try:
        # what the older version left: warehouse.json without an administrator, lapor the superuser
        legacy = {"port": warehouse._free_port(), "password": "legacy-owner-pw", "bi_password": "legacy-bi-pw"}
        (home / "warehouse.json").write_text(json.dumps(legacy))
        (home / "warehouse.json").chmod(0o600)
        server.pgdata.mkdir(parents=True)
        if server._system_user:
            server._prepare_root_access()
        pwfile = home / ".pw"
        pwfile.write_text("legacy-owner-pw\n")
        if server._system_user:
            import pwd

            entry = pwd.getpwnam(server._system_user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        result = server._run("initdb", ["-D", str(server.pgdata), "-U", "lapor", f"--pwfile={pwfile}",
                                        "--encoding=UTF8", "--locale=C", "--auth-host=scram-sha-256",
                                        "--auth-local=scram-sha-256"])
        assert result.returncode == 0, result.stderr
        pwfile.unlink()
        server._start(warehouse.EmbeddedCredentials(legacy["port"], "legacy-owner-pw", "legacy-bi-pw"))
        old_url = f"postgresql://lapor:legacy-owner-pw@127.0.0.1:{legacy['port']}"
        with psycopg.connect(old_url + "/postgres", autocommit=True) as conn:
            assert conn.execute("select rolsuper from pg_roles where rolname = 'lapor'").fetchone() == (True,)
            conn.execute("create database lapor")
        with psycopg.connect(old_url + "/lapor", autocommit=True) as conn:
            conn.execute("create schema raw")
            conn.execute("create table raw.kept (n int)")
            conn.execute("insert into raw.kept values (42)")
            conn.execute("create schema marts")
            conn.execute("create table marts.old_mart (n serial primary key, v text)")
            conn.execute("create view marts.old_view as select * from marts.old_mart")

        monkeypatch.setenv("LAPOR_HOME", str(home))
        monkeypatch.setenv("LAPOR_BI_STATEMENT_TIMEOUT", "45s")
        monkeypatch.delenv("LAPOR_WAREHOUSE_URL", raising=False)
        settings = Settings.from_env()
        url = warehouse.warehouse_url(settings)
        warehouse.ensure_schema(url, settings)
        assert "legacy-owner-pw" in url  # the owner keeps its password: BI tools and scripts keep working
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("select current_user, rolsuper from pg_roles where rolname = current_user"
                                ).fetchone() == ("lapor", False)
            assert conn.execute("select n from raw.kept").fetchone() == (42,)
            conn.execute("insert into marts.old_mart (v) values ('x')")  # its sequence came along
            conn.execute("drop view marts.old_view")
            conn.execute("drop table raw.kept")
            assert conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = 'lapor'"
                                ).fetchone() == ("lapor",)
        creds = json.loads((home / "warehouse.json").read_text())
        assert creds["admin_password"] and (home / "warehouse.json").stat().st_mode & 0o077 == 0
        with psycopg.connect(warehouse.bi_reader_url(settings), autocommit=True) as conn:
            conn.execute("set statement_timeout = '45s'")
            expected = conn.execute("show statement_timeout").fetchone()[0]
        with psycopg.connect(warehouse.bi_reader_url(settings), autocommit=True) as conn:
            assert conn.execute("show statement_timeout").fetchone()[0] == expected
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("create temp table probe (n int)")
        # a second start changes nothing and does not fail
        assert warehouse.warehouse_url(settings) == url
    finally:
        server.stop()
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def test_a_statement_timeout_postgresql_cannot_read_is_refused_before_anything_starts(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "LAPOR_HOME": str(home), "LAPOR_BI_STATEMENT_TIMEOUT": "a minute"}
    proc = subprocess.run([sys.executable, "-m", "lapor.cli", "warehouse-url", "--bi"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "LAPOR_BI_STATEMENT_TIMEOUT='a minute'" in proc.stderr and "60s" in proc.stderr
    assert not (home / "pgdata").exists()
