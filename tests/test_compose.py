"""The production compose (`docker-compose.yml`) is a valid Compose file and keeps the promises
the schema cannot check: pinned images, health checks where others wait, volumes declared and
used, no host port twice, every variable in `.env.example` (with placeholders, never secrets),
one shared configuration for the Airflow services, every pipeline setting passed on; and the
PostgreSQL init script creates databases and roles that the pipeline can work with.

No Docker engine is needed: the compose file is read as YAML; the init script runs against a
throwaway PostgreSQL 16 (the embedded one).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.schema.json"  # compose-spec/compose-spec: tests/data/README.md
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}")
PLACEHOLDER = "change-me"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example: {line!r} is not KEY=VALUE"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} with the values of .env.example."""
    def value(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        current = env.get(name)
        if op in {":-", "-"} and not (current if op == ":-" else current is not None):
            return interpolate(arg, env)
        return current or ""
    return VARIABLE.sub(value, text).replace("$$", "$")


def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def test_compose_file_matches_the_compose_specification(compose):
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "docker-compose.yml breaks the Compose Specification:\n" + "\n".join(
        f"  {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:20])


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in {"", "latest"}


def test_every_image_is_pinned(compose, env_example):
    for name, service in services(compose).items():
        if "build" in service:
            dockerfile = ROOT / service["build"].get("context", ".") / service["build"]["dockerfile"]
            froms = re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.M)
            assert froms and all(_pinned(f) for f in froms), f"{dockerfile.name}: unpinned FROM {froms}"
        assert "image" in service, f"{name}: no image"
        image = interpolate(service["image"], env_example)
        assert _pinned(image), f"{name}: image {image!r} is not pinned to a tag (and not 'latest')"


def test_the_superset_image_is_the_tested_superset_version(compose):
    """docker/superset.Dockerfile builds on the Superset release tests/test_superset.py runs,
    with the same PostgreSQL driver; both Superset services run that image."""
    source = (ROOT / "tests" / "test_superset.py").read_text()
    version = re.search(r'^SUPERSET_VERSION = "([^"]+)"', source, flags=re.M).group(1)
    driver = re.search(r'"(psycopg2-binary==[^"]+)"', source).group(1)
    dockerfile = (ROOT / "docker" / "superset.Dockerfile").read_text()
    assert re.search(rf"^FROM apache/superset:{re.escape(version)}$", dockerfile, flags=re.M), dockerfile
    assert driver in dockerfile
    for name in ("superset", "superset-init"):
        service = services(compose)[name]
        assert service["image"] == f"lapor-jatim/superset:{version}", name
        assert service["build"]["dockerfile"] == "docker/superset.Dockerfile", name


def test_the_airflow_image_is_the_locked_airflow_version():
    dockerfile = (ROOT / "docker" / "airflow.Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), flags=re.M).group(1)
    assert re.search(rf"^FROM apache/airflow:{re.escape(pinned)}-python3\.11$", dockerfile, flags=re.M)
    assert "-r /opt/lapor/requirements.txt" in dockerfile and f'"apache-airflow=={pinned}"' in dockerfile
    assert "pip install --no-cache-dir --no-deps -e /opt/lapor" in dockerfile


def test_services_waited_on_have_health_checks(compose):
    for name, service in services(compose).items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            continue
        for target, rule in depends.items():
            assert target in services(compose), f"{name} depends on unknown service {target}"
            if rule.get("condition") == "service_healthy":
                check = services(compose)[target].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), \
                    f"{name} waits for {target} to be healthy, but {target} has no health check"


def _named_volume(source: str) -> bool:
    return not source.startswith((".", "/", "~", "$"))


def test_named_volumes_are_declared_and_used(compose):
    used = set()
    for name, service in services(compose).items():
        for mount in service.get("volumes") or []:
            if isinstance(mount, str):
                source = mount.split(":", 1)[0] if ":" in mount else None
            else:
                source = mount.get("source") if mount.get("type", "volume") == "volume" else None
            if source and _named_volume(source):
                used.add(source)
    declared = set(compose.get("volumes") or {})
    assert used - declared == set(), f"volumes used but not declared: {sorted(used - declared)}"
    assert declared - used == set(), f"volumes declared but never used: {sorted(declared - used)}"


def test_no_host_port_is_published_twice(compose, env_example):
    seen: dict[str, str] = {}
    for name, service in services(compose).items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host = str(port.get("published", ""))
            else:
                parts = interpolate(str(port), env_example).split(":")
                host = parts[-2] if len(parts) >= 2 else ""
            if not host:
                continue
            assert host not in seen, f"host port {host} published by {seen[host]} and {name}"
            seen[host] = name
    assert seen, "no service publishes a port"


def test_every_variable_is_in_env_example(env_example):
    used = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text())}
    missing = sorted(used - set(env_example))
    assert not missing, f"variables docker-compose.yml uses that .env.example does not list: {missing}"


def test_env_example_holds_placeholders_not_secrets(env_example):
    secret = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
    for key, value in env_example.items():
        if secret.search(key):
            assert value == "" or value.startswith(PLACEHOLDER), f".env.example: {key} must be a {PLACEHOLDER} placeholder"
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text().split(), \
        "a .env lies in the project but .gitignore does not keep it out of git"


SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
CHECK_SECRETS = ROOT / "docker" / "check-secrets.sh"


def _check_secrets(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CHECK_SECRETS)], env={"PATH": os.environ.get("PATH", ""), **env},
                          capture_output=True, text=True, timeout=60)


def test_the_stack_refuses_to_start_with_the_placeholders_of_env_example(env_example):
    """.env copied from .env.example and not edited: the check fails and names every secret to
    replace, without printing a value; with real values it passes; one left over is named alone."""
    import secrets as random_secrets

    placeholders = {k: v for k, v in env_example.items() if SECRET_NAME.search(k) and v.startswith(PLACEHOLDER)}
    assert len(placeholders) >= 10
    forgotten = _check_secrets(env_example)
    assert forgotten.returncode == 1, forgotten.stdout + forgotten.stderr
    named = set(re.findall(r"check-secrets: ([A-Z_]+) is still the placeholder", forgotten.stderr))
    assert named == set(placeholders), forgotten.stderr
    assert not any(value in forgotten.stdout + forgotten.stderr for value in placeholders.values())

    real = {k: random_secrets.token_urlsafe(24) for k in placeholders}
    assert _check_secrets({**env_example, **real}).returncode == 0
    one_left = _check_secrets({**env_example, **real, "LAPOR_BI_PASSWORD": "Change-Me-bi-reader"})
    assert one_left.returncode == 1
    assert re.findall(r"check-secrets: ([A-Z_]+) is", one_left.stderr) == ["LAPOR_BI_PASSWORD"]
    empty = _check_secrets({**env_example, **real, "REDIS_PASSWORD": ""})
    assert empty.returncode == 1 and "REDIS_PASSWORD is not set" in empty.stderr


def test_every_service_with_a_secret_waits_for_the_secrets_check(compose, env_example):
    check = services(compose)["check-secrets"]
    assert "/opt/lapor-tools/check-secrets.sh" in check["entrypoint"]
    assert "./docker/check-secrets.sh:/opt/lapor-tools/check-secrets.sh:ro" in check["volumes"]
    placeholders = {k for k, v in env_example.items() if SECRET_NAME.search(k) and v.startswith(PLACEHOLDER)}
    assert set(check["environment"]) == placeholders
    assert all(v == f"${{{k}:?set {k} in .env}}" for k, v in check["environment"].items())

    def waits_for_check(name: str, seen: frozenset = frozenset()) -> bool:
        depends = services(compose)[name].get("depends_on") or {}
        if "check-secrets" in depends:
            return depends["check-secrets"]["condition"] == "service_completed_successfully"
        return any(waits_for_check(d, seen | {name}) for d in depends if d not in seen)

    for name, service in services(compose).items():
        uses = {m.group(1) for m in VARIABLE.finditer(yaml.safe_dump(service))} & placeholders
        if name != "check-secrets" and uses:
            assert waits_for_check(name), f"{name} uses {sorted(uses)} but may start before check-secrets"


def airflow_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in services(compose).items() if name.startswith("airflow-")}


def test_airflow_services_share_one_configuration(compose):
    common = compose["x-airflow-common"]
    found = airflow_services(compose)
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
            "airflow-worker", "airflow-init"} <= set(found)
    for name, service in found.items():
        assert service["image"] == common["image"], f"{name}: another image"
        assert service.get("build") == common["build"], f"{name}: another build"
        assert service.get("volumes") == common["volumes"], f"{name}: other volumes"
        environment = service.get("environment") or {}
        differs = {k for k, v in common["environment"].items() if environment.get(k) != v}
        assert not differs, f"{name}: environment differs from x-airflow-common in {sorted(differs)}"
    commands = {name: service.get("command") for name, service in found.items()}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert commands["airflow-worker"] == "celery worker"
    # the fixed settings come from docker/airflow.env (which tests/test_celery.py runs natively),
    # the .env-derived ones from `environment:`; no setting is in both
    assert common["env_file"] == ["./docker/airflow.env"]
    for name, service in found.items():
        assert service.get("env_file") == common["env_file"], f"{name}: another env_file"
    from lapor.scheduler import read_env_file

    shared = read_env_file(ROOT / "docker" / "airflow.env")
    assert not set(shared) & set(common["environment"]), "a setting in docker/airflow.env and environment:"
    env = {**shared, **common["environment"]}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in env and "AIRFLOW__CORE__EXECUTION_API_SERVER_URL" in env


def test_workers_scale_out(compose):
    worker = services(compose)["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports"), \
        "a fixed container name or host port would stop `--scale airflow-worker=N`"
    assert not any("container_name" in s for s in services(compose).values())


def test_every_pipeline_setting_reaches_airflow(compose):
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(LAPOR_[A-Z0-9_]+)`", readme, flags=re.M))
    assert len(documented) > 10
    missing = sorted(documented - set(compose["x-airflow-common"]["environment"]))
    assert not missing, f"README settings not passed to the Airflow services: {missing}"


def test_alerts_reach_mailpit_and_bi_reads_the_warehouse(compose):
    env = compose["x-airflow-common"]["environment"]
    assert env["LAPOR_SMTP_URL"] == "smtp://mailpit:1025"
    init = services(compose)["airflow-init"]["environment"]
    assert init["SMTP_ALERTS_CONN_URI"].startswith("${SMTP_ALERTS_CONN_URI:-smtp://mailpit:1025")
    superset = services(compose)["superset"]["environment"]
    assert superset["SUPERSET_METADATA_DB_URI"].endswith("@postgres:5432/superset")
    assert superset["SUPERSET_METADATA_DB_URI"].startswith("postgresql+psycopg2://superset:")
    init = services(compose)["superset-init"]
    assert init["environment"]["LAPOR_WAREHOUSE_HOST"] == "postgres"
    assert "lapor_superset_setup.py" in " ".join(init["command"])
    assert "./bi/superset:/app/lapor:ro" in init["volumes"]
    database = yaml.safe_load(next((ROOT / "bi" / "superset" / "bundle" / "databases").glob("*.yaml")).read_text())
    assert database["sqlalchemy_uri"].startswith("postgresql+psycopg2://bi_reader:XXXXXXXXXX@postgres:5432/lapor")
    nginx = (ROOT / "docker" / "nginx" / "default.conf").read_text()
    for folder in ("/srv/lapor/reports", "/srv/lapor/reports/dbt-docs/", "/srv/lapor/gx/uncommitted/data_docs/local_site/"):
        assert folder in nginx


def test_shell_scripts_parse():
    for script in ("docker/airflow-init.sh", "docker/postgres/initdb.sh", "docker/check-secrets.sh"):
        result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_docker_compose_config_accepts_the_file(tmp_path):
    """`docker compose config` where the Compose plugin exists (it needs no engine)."""
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    result = subprocess.run([docker, "compose", "--project-directory", str(ROOT), "--env-file", str(tmp_path / ".env"),
                             "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- the PostgreSQL init script, on a real PostgreSQL 16 ------------------------------------

@pytest.fixture()
def bare_postgres(monkeypatch):
    """A throwaway embedded PostgreSQL whose superuser is `postgres`, as in the postgres image."""
    from lapor import warehouse
    from lapor.settings import Settings

    monkeypatch.setattr(warehouse, "ADMIN", "postgres")
    root = Path(tempfile.mkdtemp(prefix="lapor-initdb-test-"))
    root.chmod(0o755)  # as root, the server runs as user `pgserver`: it must reach its folder
    server = warehouse.EmbeddedServer(root / "home")
    try:
        creds = server.ensure_running(provision=False)  # initdb's superuser only, no roles of ours
        yield server, creds, dataclasses.replace(Settings.from_env(), home=root / "home")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_init_creates_the_databases_and_roles(bare_postgres, monkeypatch):
    from lapor.warehouse import ensure_schema

    server, creds, settings = bare_postgres
    passwords = {"AIRFLOW_DB_PASSWORD": "af-pw", "LAPOR_DB_PASSWORD": "lapor-pw",
                 "LAPOR_BI_PASSWORD": "bi-pw-1", "SUPERSET_DB_PASSWORD": "ss-pw"}
    env = {**os.environ, **passwords, "PGHOST": "127.0.0.1", "PGPORT": str(creds.port),
           "PGPASSWORD": creds.admin_password, "POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres",
           "INIT_SQL": str(ROOT / "docker" / "postgres" / "init.sql"),
           "PATH": os.pathsep.join([str(server._bin), os.environ.get("PATH", "")])}
    for _ in range(2):  # the second run changes nothing and does not fail
        result = subprocess.run(["bash", str(ROOT / "docker" / "postgres" / "initdb.sh")], env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    def url(user: str, password: str, db: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{creds.port}/{db}"

    # the warehouse owner, not a superuser, sets up the pipeline's schemas and bi_reader's
    # password, as every run does with LAPOR_WAREHOUSE_URL and LAPOR_BI_PASSWORD
    monkeypatch.setenv("LAPOR_BI_PASSWORD", "bi-pw-2")
    lapor_url = url("lapor", "lapor-pw", "lapor")
    ensure_schema(lapor_url, dataclasses.replace(settings, warehouse_url=lapor_url))
    with psycopg.connect(lapor_url) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
        conn.execute("create table marts.probe (n int)")
        conn.execute("insert into marts.probe values (1)")
        conn.commit()
    with psycopg.connect(lapor_url, autocommit=True) as conn:
        conn.execute("set statement_timeout = '60s'")
        timeout = conn.execute("show statement_timeout").fetchone()[0]
        conn.execute("create temp table probe (n int)")  # the loader stages each export in one
    with psycopg.connect(url("bi_reader", "bi-pw-2", "lapor")) as conn:
        assert conn.execute("select n from marts.probe").fetchone() == (1,)
        assert conn.execute("show statement_timeout").fetchone()[0] == timeout  # LAPOR_BI_STATEMENT_TIMEOUT
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select 1 from quality.check_results limit 1")
    with psycopg.connect(url("bi_reader", "bi-pw-2", "lapor")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary"):
            conn.execute("create temp table probe (n int)")
    for user, password, db in (("bi_reader", "bi-pw-2", "airflow"), ("airflow", "af-pw", "lapor"),
                               ("superset", "ss-pw", "lapor")):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(url(user, password, db)).close()
    # Airflow and Superset own their databases (their migrations create tables in public)
    for user, password, db in (("airflow", "af-pw", "airflow"), ("superset", "ss-pw", "superset")):
        with psycopg.connect(url(user, password, db)) as conn:
            conn.execute("create table public.probe (n int)")
