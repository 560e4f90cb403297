"""How far the last night of each run date got, in `quality.run_status`.

The steps after ingestion read the marts, and the marts of a run date D are only worth
e-mailing when the night that loaded D also built them:

- `prepare` starts D's attempt (every earlier mark of D cleared) and marks D prepared when
  the warehouse, calendar and registry are in place;
- `transform` marks the build started, then built when `dbt build` succeeded, or records
  why it failed;
- `check`, `alert` and `report` ask `read(conn, D).incomplete`: when D's attempt was not
  prepared, or its build started and did not finish (dbt failed, the warehouse stopped
  mid-build, the worker died), the coordinator gets the "run incomplete" notice instead of
  the digest, agencies get nothing, and the report carries a banner.

A date with no row (steps called by hand, the benchmark's own `dbt build`) is not known to
be incomplete and is treated as before.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

STEPS = ("prepare", "transform")
ERROR_LIMIT = 4000  # characters of a failure's message kept (dbt lists every failed node)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@]*@", re.IGNORECASE)


def without_secrets(text: str) -> str:
    """`text` with the password of any URL in it masked (the reason goes into an e-mail)."""
    return _URL_PASSWORD.sub(r"\1***@", text)


@dataclass(frozen=True)
class RunStatus:
    run_date: date
    started_at: datetime           # this attempt of the night began (its identity)
    prepared_at: datetime | None
    build_started_at: datetime | None
    built_at: datetime | None
    failed_step: str | None
    error: str | None

    @property
    def incomplete(self) -> bool:
        """D's marts are not to be trusted: not prepared, or a build started and did not finish."""
        return self.prepared_at is None or (self.build_started_at is not None and self.built_at is None)

    @property
    def step(self) -> str:
        """The step that did not finish: the recorded one, else what the marks say."""
        if self.failed_step:
            return self.failed_step
        return "prepare" if self.prepared_at is None else "transform"


def begin_attempt(conn: psycopg.Connection, day: date) -> None:
    """A new attempt of D's night: nothing of it is done yet."""
    conn.execute(
        """insert into quality.run_status (run_date, started_at) values (%s, clock_timestamp())
           on conflict (run_date) do update
           set started_at = excluded.started_at, prepared_at = null, build_started_at = null,
               built_at = null, failed_step = null, error = null""", (day,))


def mark_prepared(conn: psycopg.Connection, day: date) -> None:
    conn.execute("update quality.run_status set prepared_at = clock_timestamp() where run_date = %s", (day,))


def mark_build_started(conn: psycopg.Connection, day: date) -> None:
    """The build of D begins: whatever an earlier build of this attempt left is no longer true.
    Called without a prepared attempt (a step run by hand), it starts one that counts as prepared."""
    conn.execute(
        """insert into quality.run_status (run_date, started_at, prepared_at, build_started_at)
           values (%s, clock_timestamp(), clock_timestamp(), clock_timestamp())
           on conflict (run_date) do update
           set build_started_at = clock_timestamp(), built_at = null,
               failed_step = case when quality.run_status.failed_step = 'transform' then null
                                  else quality.run_status.failed_step end,
               error = case when quality.run_status.failed_step = 'transform' then null
                            else quality.run_status.error end""", (day,))


def mark_built(conn: psycopg.Connection, day: date) -> None:
    conn.execute("update quality.run_status set built_at = clock_timestamp() where run_date = %s", (day,))


def record_failure(conn: psycopg.Connection, day: date, step: str, error: str) -> None:
    conn.execute("update quality.run_status set failed_step = %s, error = %s where run_date = %s",
                 (step, without_secrets(error)[:ERROR_LIMIT], day))


def read(conn: psycopg.Connection, day: date) -> RunStatus | None:
    row = conn.execute(
        """select run_date, started_at, prepared_at, build_started_at, built_at, failed_step, error
           from quality.run_status where run_date = %s""", (day,)).fetchone()
    return RunStatus(*row) if row else None
