"""The incremental models (int_build_window → int_changed_complaints → …): after each kind of
change a night brings, the nightly `dbt build` touches only what changed and leaves exactly
the marts a full rebuild of the same raw layer gives."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

from lapor import transform, warehouse
from lapor.settings import Settings
from tests.dbt.test_dbt_build import BLITAR, SURABAYA, complaint, load_raw, wib

# compared besides the incremental models: a table model that reads them
ALSO_COMPARED = ["marts.fct_followup_reports"]


def incremental_models(settings: Settings) -> dict[str, str]:
    """The models tagged `incremental` (dbt selection tag:incremental), name -> schema.table,
    from the manifest the last dbt run wrote."""
    manifest = json.loads((settings.dbt_dir / "target" / "manifest.json").read_text())
    return {node["name"]: f"{node['schema']}.{node['alias']}" for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and "incremental" in node["tags"]}


@pytest.fixture(scope="module")
def built():
    """A fresh embedded PostgreSQL with the hand-made raw layer of test_dbt_build, built once."""
    root = Path(tempfile.mkdtemp(prefix="lapor-dbt-incremental-"))
    root.chmod(0o755)
    settings = dataclasses.replace(Settings.from_env(), home=root / "home", warehouse_url=None)
    try:
        url = warehouse.warehouse_url(settings)
        warehouse.ensure_schema(url, settings)
        load_raw(url)
        transform.build(url, settings)
        COMPARED[:] = sorted(incremental_models(settings).values()) + ALSO_COMPARED
        yield url, settings
    finally:
        warehouse.EmbeddedServer(settings.home).stop()
        shutil.rmtree(root, ignore_errors=True)


COMPARED: list[str] = []  # filled by `built` from the manifest


def fingerprints(url: str) -> dict[str, str]:
    out = {}
    with warehouse.connect(url) as conn:
        for table in COMPARED:
            rows = [r[0] for r in conn.execute(f"select t::text from {table} t order by 1").fetchall()]
            out[table] = f"{len(rows)} rows " + hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return out


def one_value(url: str, sql: str, *params):
    with warehouse.connect(url) as conn:
        return conn.execute(sql, params).fetchone()


def nightly_equals_full_rebuild(url: str, settings: Settings) -> tuple:
    """Build incrementally, then rebuild everything; the tables compared must not differ.
    Returns the incremental build's (is_full, reason, number of changed complaints,
    {agency: first day rebuilt})."""
    transform.build(url, settings)
    window = one_value(url, "select is_full, full_rebuild_reason from intermediate.int_build_window")
    changed = one_value(url, "select count(*) from intermediate.int_changed_complaints")[0]
    with warehouse.connect(url) as conn:
        agencies = dict(conn.execute(
            "select agency_code, changed_from::text from intermediate.int_agency_backlog_changes").fetchall())
    incremental = fingerprints(url)
    assert transform.run_dbt(["build", "--full-refresh"], url, settings).success
    assert fingerprints(url) == incremental
    return (*window, changed, agencies)


def insert_complaints(conn, rows: list[dict]) -> None:
    columns = list(rows[0])
    for line, row in enumerate(rows, start=2):
        conn.execute(
            f"insert into raw.complaints (file, line, {', '.join(columns)})"
            f" values (%s, %s, {', '.join(['%s'] * len(columns))})",
            (f"{row['agency_code']}/complaints/{row['export_day']}.csv", line, *row.values()),
        )


def write_batch(conn, agency: str, day: str, rows: list[dict]) -> None:
    """As the loader does: the day's rows replaced whole, then the batch row written."""
    conn.execute("delete from raw.complaints where agency_code = %s and export_day = %s", (agency, day))
    if rows:
        insert_complaints(conn, rows)
    conn.execute(
        """insert into raw.complaint_batches (agency_code, export_day, file, sha256, status, rows_loaded,
                                              rows_rejected, run_date)
           values (%s, %s, %s, %s, 'loaded', %s, 0, %s)
           on conflict (agency_code, export_day) do update set sha256 = excluded.sha256,
               rows_loaded = excluded.rows_loaded""",
        (agency, day, f"{agency}/complaints/{day}.csv", hashlib.sha256(repr(rows).encode()).hexdigest(),
         len(rows), day),
    )


def test_a_night_without_changes_rebuilds_nothing(built):
    url, settings = built
    assert nightly_equals_full_rebuild(url, settings) == (False, None, 0, {})
    transform.build(url, settings)  # after the --full-refresh: a finished build, nothing new
    assert one_value(url, "select is_full, full_rebuild_reason from intermediate.int_build_window") == (False, None)
    assert one_value(url, "select count(*) from intermediate.int_changed_complaints")[0] == 0


def test_next_night_rebuilds_only_that_days_complaints(built):
    url, settings = built
    with warehouse.connect(url) as conn, conn.transaction():
        conn.execute("insert into raw.pipeline_runs (run_date) values ('2021-05-28')")
        write_batch(conn, SURABAYA, "2021-05-28", [
            complaint(SURABAYA, "2021-05-28", "3001004", "awaiting_followup", "2021-05-27 08:00",
                      "2021-05-28 09:00", classification="Aspirasi"),
            complaint(SURABAYA, "2021-05-28", "3001007", "unverified", "2021-05-28 10:00"),
        ])
    is_full, reason, changed, agencies = nightly_equals_full_rebuild(url, settings)
    assert (is_full, reason, changed) == (False, None, 2)
    # Blitar: only its new day; Surabaya: from 3001004's disposition on the 28th (3001007
    # submitted the 28th)
    assert agencies == {BLITAR: "2021-05-28", SURABAYA: "2021-05-28"}


def test_a_corrected_file_that_drops_a_complaint(built):
    url, settings = built
    with warehouse.connect(url) as conn, conn.transaction():
        # Surabaya's 27 May export sent again without 3001006 (completed on the 27th)
        kept = [r for r in conn.execute(
            "select tracking_id from raw.complaints where agency_code = %s and export_day = '2021-05-27'"
            " and tracking_id <> '3001006'", (SURABAYA,)).fetchall()]
        assert kept
        conn.execute("delete from raw.complaints where agency_code = %s and export_day = '2021-05-27'"
                     " and tracking_id = '3001006'", (SURABAYA,))
        conn.execute("update raw.complaint_batches set sha256 = 'corrected' where agency_code = %s"
                     " and export_day = '2021-05-27'", (SURABAYA,))
    is_full, reason, changed, agencies = nightly_equals_full_rebuild(url, settings)
    # the rewritten batch's five complaints (3001006 retracted from it), from the 27th on
    assert (is_full, reason, changed, agencies) == (False, None, 5, {SURABAYA: "2021-05-27"})
    status = one_value(url, "select status, last_seen_on from marts.fct_complaints where tracking_id = '3001006'")
    assert status == ("in_progress", date(2021, 5, 26))


def test_a_late_followup_report_and_an_old_day_loaded_late(built):
    url, settings = built
    with warehouse.connect(url) as conn, conn.transaction():
        file = f"{BLITAR}/followup/2021-04_2021-05-28.csv"
        conn.execute(
            "insert into raw.followup_reports (agency_code, period, submitted_on, file, sha256, status,"
            " rows_loaded, rows_rejected, run_date) values (%s, '2021-04-01', '2021-05-28', %s, 'x', 'loaded',"
            " 1, 0, '2021-05-28')", (BLITAR, file))
        conn.execute(
            "insert into raw.followup_rows (agency_code, period, submitted_on, file, line, tracking_id, followup_at)"
            " values (%s, '2021-04-01', '2021-05-28', %s, 2, '3505001', %s)", (BLITAR, file, wib("2021-04-20 10:00")))
        # an export of 25 May arrives late, with a complaint submitted in January
        write_batch(conn, BLITAR, "2021-05-25", [
            complaint(BLITAR, "2021-05-25", "3505003", "in_progress", "2021-01-05 09:00", "2021-01-06 09:00",
                      "2021-01-08 09:00"),
        ])
    is_full, reason, changed, agencies = nightly_equals_full_rebuild(url, settings)
    assert (is_full, reason, changed) == (False, None, 2)
    assert agencies == {BLITAR: "2021-01-05"}  # the January complaint's submission day
    assert one_value(url, "select followup_report_status from marts.agency_scorecard where agency_code = %s"
                          " and as_of_date = '2021-05-28'", BLITAR) == ("late",)


def test_a_build_that_did_not_finish_is_followed_by_a_full_rebuild(built):
    url, settings = built
    transform.build(url, settings)
    with warehouse.connect(url) as conn:
        conn.execute("update intermediate.int_build_window set seq_to = seq_to + 1")
    is_full, reason, _, _ = nightly_equals_full_rebuild(url, settings)
    assert (is_full, reason) == (True, "the previous build did not finish")


def test_the_tagged_models_are_the_ones_the_build_window_waits_for(built):
    """With every model's table gone, the build window names as "not built yet" exactly the
    models tagged `incremental`: the tag is the list the incremental machinery works from."""
    url, settings = built
    with warehouse.connect(url) as conn:
        conn.execute("drop schema intermediate cascade")
        conn.execute("drop schema marts cascade")
    transform.build(url, settings)
    reason = one_value(url, "select full_rebuild_reason from intermediate.int_build_window")[0]
    assert reason.startswith("not built yet: ")
    assert set(reason.removeprefix("not built yet: ").split(", ")) == set(incremental_models(settings))
    # and the next night is incremental again
    transform.build(url, settings)
    assert one_value(url, "select is_full, full_rebuild_reason from intermediate.int_build_window") == (False, None)
