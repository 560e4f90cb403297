"""The marts as BI tools see them: the same whatever order days are loaded in, and free of
personal data."""
from __future__ import annotations

import contextlib
import hashlib
from datetime import date, timedelta

import psycopg
import pytest

DAYS = [date(2021, 5, 24) + timedelta(days=i) for i in range(5)]
MARTS = ["dim_agency", "dim_date", "fct_complaints", "fct_backlog_daily", "agg_resolution_monthly",
         "fct_followup_reports", "agency_scorecard"]


def fingerprints(url: str) -> dict[str, str]:
    out = {}
    with psycopg.connect(url) as conn:
        for table in MARTS:
            rows = conn.execute(f"select t::text from marts.{table} t order by 1").fetchall()
            out[table] = f"{len(rows)} rows " + hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()
    return out


def load_days(settings, exports, days, nightly: bool = False) -> None:
    """Load the days in this order; `dbt build` once at the end, or after each day (nightly)."""
    from lapor import pipeline
    from lapor.registry import load_registry
    from lapor.transform import build
    from lapor.warehouse import warehouse_url

    codes = [a.agency_code for a in load_registry(settings.registry_path)]
    for day in days:
        pipeline.prepare(day, settings)
        for code in codes:
            pipeline.ingest_agency(day, code, exports, settings=settings)
        if nightly:
            build(warehouse_url(settings), settings)
    if not nightly:
        build(warehouse_url(settings), settings)


def test_loading_later_days_first_gives_the_same_marts(settings, warehouse, sample_exports, tmp_path):
    """Night by night in date order (each build incremental) = the later days first, then the
    earlier ones late (a backfill) = a full rebuild of the same raw layer."""
    from lapor.transform import run_dbt
    from tests.conftest import _scratch_database

    with contextlib.ExitStack() as stack:
        in_order = stack.enter_context(_scratch_database(settings, warehouse, tmp_path / "a"))
        late_first = stack.enter_context(_scratch_database(settings, warehouse, tmp_path / "b"))
        for _, url, _ in (in_order, late_first):  # each new warehouse draws its own salt
            with psycopg.connect(url) as conn:
                conn.execute("update ref.secrets set value = 'same salt' where name = 'reporter_salt'")
        load_days(in_order[0], sample_exports, DAYS, nightly=True)
        with psycopg.connect(in_order[1]) as conn:
            last_build = conn.execute("select is_full, full_rebuild_reason from intermediate.int_build_window").fetchone()
        load_days(late_first[0], sample_exports, DAYS[3:], nightly=True)
        load_days(late_first[0], sample_exports, DAYS[:3], nightly=True)
        first, second = fingerprints(in_order[1]), fingerprints(late_first[1])
        assert run_dbt(["build", "--full-refresh"], in_order[1], in_order[0]).success
        rebuilt = fingerprints(in_order[1])
    assert last_build == (False, None)  # the last night was incremental
    assert first == second
    assert first == rebuilt
    assert first["fct_backlog_daily"].split()[0] != "0"


@pytest.fixture(scope="module")
def loaded(settings, warehouse, sample_exports):
    """The session warehouse with the sample's days loaded and built (idempotent)."""
    load_days(settings, sample_exports, [date(2021, 5, 27)])
    return warehouse


def test_marts_hold_no_names_phones_emails_or_complaint_text(loaded):
    with psycopg.connect(loaded) as conn:
        conn.execute("""create temp table personal as
                        select distinct v from raw.complaints,
                        lateral (values (reporter_name), (reporter_phone), (reporter_email), (title), (content)) x(v)
                        where v is not null and length(v) >= 4""")
        assert conn.execute("select count(*) from personal").fetchone()[0] > 1000
        columns = conn.execute("""select table_name, column_name from information_schema.columns
                                  where table_schema = 'marts' and data_type in ('text', 'character varying')
                                  """).fetchall()
        assert columns
        leaks = []
        for table, column in columns:
            hit = conn.execute(f'select "{column}" from marts."{table}" m join personal p on p.v = m."{column}" '
                               "limit 1").fetchone()
            if hit:
                leaks.append((table, column, hit[0]))
    assert leaks == []


def test_repeat_reporters_can_be_counted_without_seeing_them(loaded):
    with psycopg.connect(loaded) as conn:
        total, keyed, distinct = conn.execute(
            "select count(*), count(reporter_key), count(distinct reporter_key) from marts.fct_complaints").fetchone()
        assert 0 < distinct < keyed <= total
        anonymous_keys = conn.execute(
            "select count(reporter_key) from marts.fct_complaints where is_anonymous").fetchone()[0]
        assert anonymous_keys == 0
        # the key is not a plain hash of what the reporter typed
        email = conn.execute("select reporter_email from raw.complaints where reporter_email is not null "
                             "and not coalesce(is_anonymous, false) limit 1").fetchone()[0]
        plain = hashlib.sha256(email.lower().encode()).hexdigest()
        assert conn.execute("select count(*) from marts.fct_complaints where reporter_key = %s",
                            (plain,)).fetchone()[0] == 0


def test_bi_reader_is_refused_outside_marts(loaded, settings):
    from lapor.warehouse import bi_reader_url

    with psycopg.connect(bi_reader_url(settings), autocommit=True) as conn:
        for table in ("dim_agency", "dim_date", "fct_complaints", "fct_backlog_daily", "agg_resolution_monthly",
                      "fct_followup_reports", "agency_scorecard"):
            conn.execute(f"select * from marts.{table} limit 1")
        for table in ("raw.complaints", "staging.stg_raw__complaints", "intermediate.int_complaints__latest",
                      "quality.rejected_rows", "ref.secrets"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select * from {table} limit 1")
