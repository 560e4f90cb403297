"""One agency's ingestion, step by step (no Airflow): what a failure leaves behind, and what a
re-run of the date does with it. The whole night is in tests/test_hostile_input.py."""
from __future__ import annotations

import dataclasses
import os
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

D = date(2021, 5, 27)
HEADER = "ID Laporan,Status,Tanggal Laporan,Judul\n"
REGISTRY = """agency_code,agency_name,agency_type,sk_number,sk_date,admin_email,source,source_url
35.05,Kabupaten Blitar,kabupaten,188/1/2020,2020-02-01,admin@blitarkab.example,folder,
"""


@pytest.fixture()
def agency(scratch):
    settings, url, exports = scratch
    registry = exports.parent / "registry.csv"
    registry.write_text(REGISTRY)
    settings = dataclasses.replace(settings, registry_path=registry, exports_dir=exports)
    folder = exports / "35.05"
    (folder / "complaints").mkdir(parents=True)
    (folder / "followup").mkdir()
    return settings, url, folder


def _rows(url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def test_a_file_the_loader_failed_on_is_loaded_by_the_rerun_once_the_cause_is_gone(agency, monkeypatch):
    from lapor import load, pipeline

    settings, url, folder = agency
    (folder / f"complaints/{D}.csv").write_text(HEADER + "3001,Proses,2021-05-20,Jalan\n")
    pipeline.prepare(D, settings)
    real = load.load_complaints
    monkeypatch.setattr(load, "load_complaints", lambda *a: (_ for _ in ()).throw(ValueError("bug")))
    outcome = pipeline.ingest_agency(D, "35.05", settings=settings)
    assert outcome["complaints_export"] == "rejected"
    assert _rows(url, "select reason_code, sha256 is not null from quality.rejected_files") == [("load_failed", True)]
    assert _rows(url, "select status from quality.ingest_runs") == [("done",)]
    monkeypatch.setattr(load, "load_complaints", real)
    outcome = pipeline.ingest_agency(D, "35.05", settings=settings)
    assert outcome["complaints_export"] == "loaded"
    assert _rows(url, "select count(*) from quality.rejected_files") == [(0,)]
    assert _rows(url, "select status, rows_loaded from raw.complaint_batches") == [("loaded", 1)]


def test_an_agency_is_ingested_on_one_connection(agency, monkeypatch):
    """Its status, its file and its outcome share one connection (three per agency were about
    6 s of a national night's ingestion)."""
    from lapor import pipeline, warehouse

    settings, url, folder = agency
    (folder / f"complaints/{D}.csv").write_text(HEADER + "3001,Proses,2021-05-20,Jalan\n")
    (folder / "stray.txt").write_text("not an export")  # a warning recorded on the same connection
    pipeline.prepare(D, settings)
    opened = []
    real = warehouse.connect
    monkeypatch.setattr(warehouse, "connect", lambda *a, **k: opened.append(a) or real(*a, **k))
    outcome = pipeline.ingest_agency(D, "35.05", settings=settings)
    assert outcome["complaints_export"] == "loaded" and outcome["warnings"]
    assert len(opened) == 1
    assert _rows(url, "select status from quality.ingest_runs") == [("done",)]
    assert _rows(url, "select count(*) from raw.complaints") == [(1,)]


def test_a_connection_lost_in_the_middle_of_a_load_is_recorded_as_failed(agency, monkeypatch):
    """The warehouse drops the ingestion's connection while a file loads: the file cannot be
    recorded as rejected on it, so the agency's ingestion fails, and its `failed` status (with
    the error) is written on a new connection; the re-run loads the file."""
    from lapor import load, pipeline

    settings, url, folder = agency
    (folder / f"complaints/{D}.csv").write_text(HEADER + "3001,Proses,2021-05-20,Jalan\n")
    pipeline.prepare(D, settings)
    real = load.load_complaints

    def dropped(conn, *args):
        conn.execute("select pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(load, "load_complaints", dropped)
    with pytest.raises(psycopg.OperationalError):
        pipeline.ingest_agency(D, "35.05", settings=settings)
    [(status, error)] = _rows(url, "select status, error from quality.ingest_runs")
    assert (status, error) == ("failed", "AdminShutdown: terminating connection due to administrator command")
    monkeypatch.setattr(load, "load_complaints", real)
    assert pipeline.ingest_agency(D, "35.05", settings=settings)["complaints_export"] == "loaded"
    assert _rows(url, "select status, error from quality.ingest_runs") == [("done", None)]


def test_a_link_left_in_the_folder_is_recorded_once_and_never_read(agency, tmp_path):
    from lapor import pipeline

    settings, url, folder = agency
    target = tmp_path / "elsewhere.csv"
    target.write_text("ID Laporan,Tanggal Tindak Lanjut\nSECRET,2021-05-01\n")
    os.symlink(target, folder / "followup/2021-04_2021-05-10.csv")
    for day in (D, D + timedelta(days=1)):
        pipeline.prepare(day, settings)
        pipeline.ingest_agency(day, "35.05", settings=settings)
    assert _rows(url, "select run_date, reason_code, sha256 from quality.rejected_files") == [(D, "symlink", None)]
    assert not list(settings.landing_dir.rglob("*elsewhere*")) and not list(settings.landing_dir.rglob("*2021-04_*"))


def test_a_file_over_the_size_limit_is_not_copied(agency, monkeypatch):
    from lapor import pipeline

    settings, url, folder = agency
    monkeypatch.setenv("LAPOR_MAX_FILE_MB", "1")
    (folder / f"complaints/{D}.csv").write_text(HEADER + "3001,Proses,2021-05-20,Jalan\n" * 40_000)
    pipeline.prepare(D, settings)
    pipeline.ingest_agency(D, "35.05", settings=settings)
    [(code, reason, sha)] = _rows(url, "select reason_code, reason, sha256 from quality.rejected_files")
    assert code == "file_too_large" and "LAPOR_MAX_FILE_MB" in reason and sha is None
    assert not any(p.is_file() for p in settings.landing_dir.rglob("*"))
    monkeypatch.setenv("LAPOR_MAX_FILE_MB", "5")  # a new value takes effect on the next run
    pipeline.ingest_agency(D, "35.05", settings=settings)
    assert _rows(url, "select status from raw.complaint_batches") == [("loaded",)]


def test_a_limit_setting_names_the_variable_when_it_is_wrong(monkeypatch):
    from lapor.readers.limits import Limits
    from lapor.settings import SettingError

    monkeypatch.setenv("LAPOR_MAX_COLUMNS", "many")
    with pytest.raises(SettingError, match="LAPOR_MAX_COLUMNS"):
        Limits.from_env()


def test_reasons_never_quote_more_than_80_characters_of_a_cell(agency):
    from lapor import pipeline

    settings, url, folder = agency
    (folder / f"complaints/{D}.csv").write_text(HEADER + "3001,\"" + "<b>" * 1000 + "\r\nline\",2021-05-20,J\n")
    pipeline.prepare(D, settings)
    pipeline.ingest_agency(D, "35.05", settings=settings)
    [(reason_code, reason)] = _rows(url, "select reason_code, reason from quality.rejected_rows")
    assert reason_code == "unknown_status"
    quoted = reason.split("'")[1]
    assert len(quoted) == 80 and quoted.endswith("…") and "\n" not in reason


def test_the_run_summary_names_the_drop_folder_warnings(agency, capsys):
    """`lapor run`/`backfill` end with the night's warnings (a misnamed upload, a folder that
    is no agency's), as they print them."""
    from lapor import pipeline
    from lapor.cli import _print_input_warnings

    settings, url, folder = agency
    (folder / "complaints" / "27-05-2021.csv").write_text(HEADER)
    (folder.parent / "99.99").mkdir()
    pipeline.prepare(D, settings)
    pipeline.survey_drop_folder(D, settings=settings)
    pipeline.ingest_agency(D, "35.05", settings=settings)
    _print_input_warnings(settings, [D])
    out = capsys.readouterr().out
    assert "2 warning(s) about the drop folder" in out
    assert f"{D} 35.05/complaints/27-05-2021.csv: misnamed_file" in out and f"{D} 99.99: unregistered_folder" in out
