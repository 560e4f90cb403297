"""Airflow's own components on this machine, without Docker: `airflow api-server`,
`airflow scheduler` and `airflow dag-processor` (and `airflow triggerer` if asked) as
subprocesses with a PostgreSQL metadata database — the split the production compose
(`docker-compose.yml`) runs in containers, with the same init script
(`docker/airflow-init.sh`: migrate, pool `lapor_sources`, connections, the admin's password).

Two configurations: the LocalExecutor (`component_env`), and the compose's own CeleryExecutor
configuration (`celery_env`: the shared file `docker/airflow.env` that every Airflow service of
the compose reads, with only this machine's paths, hosts and ports put in), plus
`airflow celery worker` processes (`LocalAirflow.start_worker`).

The scheduler smoke test (tests/test_scheduler_smoke.py) uses it to run `lapor_nightly`
under a real scheduler, tests/test_celery.py under the Celery executor. Nothing here imports Airflow: the components are separate processes
configured through their environment (`AIRFLOW__SECTION__KEY`) and driven through the
REST API (`/auth/token`, `/api/v2/...`), as a user of the compose would drive them.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lapor.settings import DAGS_DIR, PROJECT_ROOT

INIT_SCRIPT = PROJECT_ROOT / "docker" / "airflow-init.sh"
# The Airflow settings every Airflow service of docker-compose.yml reads (`env_file`).
SHARED_ENV_FILE = PROJECT_ROOT / "docker" / "airflow.env"
ADMIN_USER = "lapor"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
FINISHED = {"success", "failed"}


class AirflowStartError(RuntimeError):
    """A component did not start or the init script failed; the message has the log's tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_bin() -> str:
    """The `airflow` executable of this Python environment (falls back to PATH)."""
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else (shutil.which("airflow") or "airflow")


def component_env(home: Path, metadata_url: str, api_port: int, *, base: dict[str, str] | None = None,
                  parallelism: int = 4, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every component shares: one configuration, as `x-airflow-common` in the
    compose. `base` is the caller's environment; its own AIRFLOW_* settings are dropped so that
    nothing of another Airflow installation leaks in, its LAPOR_* settings are kept."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("AIRFLOW")}
    env["PATH"] = os.pathsep.join([str(Path(airflow_bin()).parent), env.get("PATH", "/usr/bin:/bin")])
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # Airflow derives its async URL as postgresql+asyncpg, which requirements.txt does not
        # hold: psycopg 3 (installed for the pipeline) serves the async engine instead.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url(metadata_url),
        # The workers reach the api-server's execution API with JWTs the scheduler signs:
        # every component must share the secret (a random one per process would not verify).
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW_ADMIN_USER": ADMIN_USER,
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def read_env_file(path: Path = SHARED_ENV_FILE) -> dict[str, str]:
    """The KEY=value lines of an env file as Compose's `env_file` reads them. Only the plain
    form is accepted (no quotes, no `$`, no `export`), so that both readers agree on every value."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.replace("_", "").isalnum() or any(c in value for c in "\"'$") or " #" in value:
            raise ValueError(f"{path}:{number}: not a plain KEY=value line: {raw!r}")
        values[key] = value
    return values


# What `celery_env` replaces in the shared file, and why: container paths and host names only.
CELERY_REPLACED = {
    "AIRFLOW__CORE__DAGS_FOLDER": "the DAGs are in the project, not at the image's /opt/lapor/dags",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "the api-server is 127.0.0.1:<free port>, not the host airflow-apiserver",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "under AIRFLOW_HOME, not the volume airflow-auth",
}
# What the compose's x-airflow-common `environment:` derives from .env (secrets, URLs, the
# admin's name, the worker concurrency): given here with this machine's values.
CELERY_FROM_DOT_ENV = (
    "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
    "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API__BASE_URL", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",
)
# What a container has of its own and processes side by side on one machine must be given:
# the folders of AIRFLOW_HOME, a port for the scheduler's health check (8974 in its
# container), and per worker (`start_worker`) a port for its log server (8793) and a name.
CELERY_NATIVE_ONLY = (
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER", "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "AIRFLOW__CORE__HOSTNAME_CALLABLE",
)


def celery_env(home: Path, metadata_url: str, api_port: int, broker_url: str, *,
               base: dict[str, str] | None = None, worker_concurrency: int = 4,
               extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the compose's Airflow services (CeleryExecutor), for processes on this
    machine: every value of `docker/airflow.env` as it is, except the paths and host names of
    CELERY_REPLACED; the .env-derived values of the compose (CELERY_FROM_DOT_ENV) with this
    machine's database, broker and fresh secrets; AIRFLOW_HOME's folders. `base` as in
    `component_env`: its AIRFLOW* settings are dropped, its LAPOR_* settings kept."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("AIRFLOW")}
    env["PATH"] = os.pathsep.join([str(Path(airflow_bin()).parent), env.get("PATH", "/usr/bin:/bin")])
    shared = read_env_file(SHARED_ENV_FILE)
    missing = sorted(set(CELERY_REPLACED) - set(shared))
    if missing:
        raise ValueError(f"{SHARED_ENV_FILE} no longer sets {missing}: update lapor.scheduler.CELERY_REPLACED")
    env.update(shared)
    sync_url, async_url_ = metadata_urls(metadata_url)
    env.update({
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
    })
    env.update({
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sync_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url_,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://" + metadata_url.split("://", 1)[1],
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
    })
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW_ADMIN_USER": ADMIN_USER,
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def celery_worker_hostname() -> str:
    """`[core] hostname_callable` for several Celery workers on one machine: the name of the
    worker running the task (`--celery-hostname`), so that a task instance's `hostname` says
    which worker ran it. In the compose every worker container has a host name of its own and
    Airflow's default (the FQDN) is used."""
    try:
        from celery import current_task

        name = current_task.request.hostname if current_task else None
        if name:
            return str(name)
    except Exception:
        pass
    return socket.getfqdn()


def metadata_urls(url: str) -> tuple[str, str]:
    """The sync (psycopg2) and async (psycopg 3) SQLAlchemy URLs of a `postgresql://` database."""
    rest = url.split("://", 1)[1]
    return f"postgresql+psycopg2://{rest}", f"postgresql+psycopg_async://{rest}"


def async_url(url: str) -> str:
    return metadata_urls(url)[1]


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass
class LocalAirflow:
    """Airflow components started here; use as a context manager so they always stop."""

    home: Path
    env: dict[str, str]
    api_port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @classmethod
    def configure(cls, home: Path, metadata_url: str, **kwargs) -> "LocalAirflow":
        home.mkdir(parents=True, exist_ok=True)
        port = kwargs.pop("api_port", None) or free_port()
        return cls(home=home, env=component_env(home, metadata_url, port, **kwargs), api_port=port)

    @classmethod
    def configure_celery(cls, home: Path, metadata_url: str, broker_url: str, **kwargs) -> "LocalAirflow":
        """The compose's CeleryExecutor configuration (`celery_env`); workers via `start_worker`."""
        home.mkdir(parents=True, exist_ok=True)
        port = kwargs.pop("api_port", None) or free_port()
        return cls(home=home, env=celery_env(home, metadata_url, port, broker_url, **kwargs), api_port=port)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def log_path(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def init(self, timeout: float = 300) -> None:
        """`docker/airflow-init.sh`, the compose's init service: migrate, pool, connections, admin."""
        log = self.log_path("airflow-init")
        with open(log, "wb") as out:
            result = subprocess.run(["bash", str(INIT_SCRIPT)], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    timeout=timeout, cwd=self.home)
        if result.returncode != 0:
            raise AirflowStartError(f"{INIT_SCRIPT.name} exited {result.returncode}:\n{tail(log)}")

    def start(self, components: Iterable[str] = ("api-server", "scheduler", "dag-processor")) -> None:
        for name in components:
            if name not in COMPONENTS:
                raise ValueError(f"unknown Airflow component {name!r}; expected one of {COMPONENTS}")
            args = [airflow_bin(), name]
            if name == "api-server":
                args += ["--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"]
            out = open(self.log_path(name), "ab")
            # Its own process group: stop() ends the component and every process it started.
            self.processes[name] = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                                    cwd=self.home)
            out.close()

    def start_worker(self, name: str) -> subprocess.Popen:
        """`airflow celery worker --celery-hostname <name>@<host>`, the compose's airflow-worker,
        in its own process group; its log server on a port of its own, and task instances it
        runs record `<name>@<host>` as their hostname (`celery_worker_hostname`)."""
        env = {**self.env,
               "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
               "AIRFLOW__CORE__HOSTNAME_CALLABLE": "lapor.scheduler.celery_worker_hostname"}
        args = [airflow_bin(), "celery", "worker", "--celery-hostname", f"{name}@%h"]
        out = open(self.log_path(name), "ab")
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=self.home)
        out.close()
        self.processes[name] = process
        return process

    def kill(self, name: str) -> list[int]:
        """SIGKILL to a component and every process under it, as when its container is killed:
        its process group and the task processes that Airflow put into groups of their own.
        Returns the pids signalled; the component is no longer watched by `check_alive`."""
        process = self.processes.pop(name)
        pids = [process.pid, *descendants(process.pid)]
        _signal_group(process, signal.SIGKILL)
        for pid in pids:
            _kill_quietly(pid)
        process.wait(timeout=30)
        return pids

    def wait_until_ready(self, timeout: float = 180) -> None:
        """Until the api-server answers and every started component is still running."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/version", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AirflowStartError(f"the api-server did not answer within {timeout:.0f} s\n{self.diagnostics()}")
            time.sleep(1)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AirflowStartError(f"airflow {name} exited with {process.returncode}\n{self.diagnostics()}")

    def api(self) -> "AirflowApi":
        return AirflowApi(self.api_url, self.env["AIRFLOW_ADMIN_USER"], self.env["AIRFLOW_ADMIN_PASSWORD"])

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to each component's process group, SIGKILL to what is left after `grace` s
        (also to the processes under them in groups of their own: Airflow's task processes)."""
        below = {pid for process in self.processes.values() for pid in descendants(process.pid)}
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            below.update(descendants(process.pid))
            _signal_group(process, signal.SIGKILL)  # also the group's stragglers (task processes)
        for pid in below:
            _kill_quietly(pid)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()

    def diagnostics(self, chars: int = 3000) -> str:
        """The tail of every component's log, for a failure message."""
        parts = []
        names = ["airflow-init", *COMPONENTS, *sorted(p.stem for p in self.home.glob("*.log")
                                                      if p.stem not in ("airflow-init", *COMPONENTS))]
        for name in names:
            path = self.log_path(name)
            if path.exists():
                parts.append(f"----- {name} ({path}) -----\n{tail(path, chars)}")
        return "\n".join(parts)

    def task_logs(self, dag_id: str, run_id: str) -> list[Path]:
        folder = Path(self.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / f"dag_id={dag_id}" / f"run_id={run_id}"
        return sorted(folder.rglob("*.log")) if folder.exists() else []

    def __enter__(self) -> "LocalAirflow":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the group this module created for the component
    except (ProcessLookupError, PermissionError):
        pass


def _kill_quietly(pid: int) -> None:
    """SIGKILL to `pid`, and to its group when it leads one (a task process and its children)."""
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            if kill is os.killpg and os.getpgid(pid) != pid:
                continue
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # the command in (...) may hold spaces
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tail(path: Path, chars: int = 3000) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    return data[-chars:].decode("utf-8", "replace")


class AirflowApiError(RuntimeError):
    pass


class AirflowApi:
    """The few calls of Airflow's public REST API (v2) a run needs, with a JWT from `/auth/token`."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token: str | None = None

    def token(self) -> str:
        """POST /auth/token with the simple auth manager's user and password."""
        if self._token is None:
            body = self._call("POST", "/auth/token", {"username": self.username, "password": self.password},
                              auth=False)
            self._token = body["access_token"]
        return self._token

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise AirflowApiError(f"{method} {path}: HTTP {exc.code} {exc.read()[:1000]!r}") from exc
        return json.loads(payload) if payload else {}

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def wait_for_dag(self, dag_id: str, timeout: float = 180, alive=lambda: None) -> dict:
        """Until the dag-processor has parsed the DAG and the api-server knows it."""
        deadline = time.monotonic() + timeout
        while True:
            alive()
            try:
                return self.get(f"/api/v2/dags/{dag_id}")
            except AirflowApiError as exc:
                if "HTTP 404" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def import_errors(self) -> list[dict]:
        return self.get("/api/v2/importErrors").get("import_errors", [])

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str, conf: dict | None = None) -> str:
        """POST /api/v2/dags/{dag_id}/dagRuns; returns the run id."""
        body = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": conf or {}})
        return body["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, poll: float = 5, alive=lambda: None) -> str:
        """Until the run succeeds or fails; returns its last state ("running" or "queued" on time-out)."""
        deadline = time.monotonic() + timeout
        while True:
            alive()
            state = self.run_state(dag_id, run_id)
            if state in FINISHED or time.monotonic() > deadline:
                return state
            time.sleep(poll)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.request.quote(run_id, safe='')}/taskInstances?limit=200"
        return self.get(path)["task_instances"]
