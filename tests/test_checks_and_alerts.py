"""Each coordinator check fails on data made to fail it and passes on clean data; the e-mails
reach the right people once, escaped, with reminders only after the set number of days."""
from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import psycopg
import pytest

D = date(2021, 5, 27)
HEADER = ("ID Laporan,Status,Tanggal Laporan,Tanggal Disposisi,Tanggal Tindak Lanjut,Tanggal Selesai,"
          "Judul,Klasifikasi\n")
SCRIPT_TITLE = "<script>alert('x')</script> Jalan rusak"
REGISTRY = """agency_code,agency_name,agency_type,sk_number,sk_date,admin_email,source,source_url
35.05,Kabupaten Blitar,kabupaten,188/1/2020,2020-02-01,admin@blitarkab.example,folder,
35.16,Kabupaten Mojokerto,kabupaten,188/2/2020,2020-02-01,admin@mojokertokab.example,folder,
35.29,Kabupaten Sumenep,kabupaten,188/3/2020,2020-02-01,admin@sumenepkab.example,folder,
35.72,Kota Blitar,kota,,,admin@blitarkota.example,folder,
"""
EXPORTS = {
    "35.05": HEADER + "3000001,Selesai,10/03/2021 08:00,11/03/2021,12/03/2021,20/03/2021,Lampu mati,Pengaduan\n"
                      f"3000002,Belum Ditindaklanjuti,07/05/2021 09:00,10/05/2021,,,\"{SCRIPT_TITLE}\",Pengaduan\n",
    "35.16": HEADER + "3000011,Selesai,15/03/2021,16/03/2021,17/03/2021,25/03/2021,Sampah,Aspirasi\n",
    "35.29": HEADER + "3000021,Selesai,01/04/2021,01/04/2021,02/04/2021,05/04/2021,Air PDAM,Pengaduan\n",
    "35.72": HEADER + "3000031,Proses,03/05/2021,04/05/2021,05/05/2021,,Parkir liar,Pengaduan\n",
}
FOLLOWUP = "ID Laporan,Tanggal Tindak Lanjut,Uraian Tindak Lanjut\n"
REPORTS = {
    "35.05/followup/2021-03_2021-04-05.csv": FOLLOWUP + "3000001,12/03/2021,Diperbaiki\n",
    "35.05/followup/2021-04_2021-05-06.csv": FOLLOWUP,
    "35.16/followup/2021-03_2021-04-06.csv": FOLLOWUP + "3000011,17/03/2021,Diangkut\n",
    # 35.16: April 2021 never sent
    "35.29/followup/2021-04_2021-05-27.csv": FOLLOWUP + "3000021,02/04/2021,Diperbaiki\n",  # late, today
}
EXPECTED = {
    "followup_report_missing": {"35.16"},
    "followup_report_late": {"35.29"},
    "followup_overdue": {"35.05"},
    "export_missing": {"35.72"},
    "export_unreadable": {"35.29"},
    "sk_missing": {"35.72"},
    "ingest_failed": set(),
    "followup_unreadable": set(),
    "volume_anomaly": set(),
    "stale_export": set(),
}


def write(folder: Path, relpath: str, content: str | bytes) -> None:
    path = folder / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


@pytest.fixture(scope="module")
def crafted(scratch_module, smtp_server):
    """Four agencies, run for 24 and 27 May 2021 through every step but Airflow.

    Shared by the tests of this module, in order: the last two change alert and check state."""
    from lapor import pipeline

    settings, url, exports = scratch_module
    smtp_url, mailbox = smtp_server
    registry = exports.parent / "registry.csv"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(REGISTRY)
    settings = dataclasses.replace(settings, registry_path=registry, smtp_url=smtp_url)
    for code, body in EXPORTS.items():
        write(exports, f"{code}/complaints/2021-05-24.csv", body)
        if code in ("35.05", "35.16"):
            write(exports, f"{code}/complaints/2021-05-27.csv", body)
    write(exports, "35.29/complaints/2021-05-27.xlsx", b"PK\x03\x04 broken spreadsheet")
    for relpath, body in REPORTS.items():
        write(exports, relpath, body)
    for day in (date(2021, 5, 24), D):
        pipeline.prepare(day, settings)
        for code in EXPORTS:
            pipeline.ingest_agency(day, code, exports, settings=settings)
    pipeline.transform(D, settings)
    pipeline.check(D, settings)
    mailbox.clear()
    pipeline.alert(D, settings)
    return settings, url, mailbox


def flagged(url: str, day: date = D) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with psycopg.connect(url) as conn:
        for check, agency, passed in conn.execute(
                "select check_name, agency_code, passed from quality.check_results where run_date = %s", (day,)):
            out.setdefault(check, set())
            if not passed:
                out[check].add(agency)
    return out


def body(message, kind: str = "plain") -> str:
    return message.get_body(preferencelist=(kind,)).get_content()


def test_each_check_flags_exactly_the_agency_made_to_fail_it(crafted):
    settings, url, _ = crafted
    assert flagged(url) == EXPECTED
    with psycopg.connect(url) as conn:
        details = dict(conn.execute(
            "select check_name, details from quality.check_results where run_date = %s and not passed", (D,)))
    assert "2021-04" in details["followup_report_missing"]
    assert "3000002" in details["followup_overdue"] and "1 complaint" in details["followup_overdue"]
    assert "unreadable_file" in details["export_unreadable"]


def test_followup_overdue_flags_what_the_mart_marks_breached_and_not_followed_up(crafted):
    """One definition of the follow-up limit (marts.fct_complaint_followup_due): on the last day
    the check flags exactly the open complaints fct_complaints marks breached without a follow-up."""
    from test_followup_rules import breached_not_followed_up, not_seen_since_late, overdue_flagged

    _, url, _ = crafted
    assert set(overdue_flagged(url, D)) == breached_not_followed_up(url) == {"3000002"}
    assert not not_seen_since_late(url, D)


def test_digest_and_agency_messages_reach_the_right_people(crafted):
    settings, url, mailbox = crafted
    assert len(mailbox.messages) == 5
    by_recipient = {tuple(rcpts): message for rcpts, message in mailbox.messages}
    assert set(by_recipient) == {(settings.coordinator_email,), ("admin@blitarkab.example",),
                                 ("admin@mojokertokab.example",), ("admin@sumenepkab.example",),
                                 ("admin@blitarkota.example",)}
    digest = body(by_recipient[(settings.coordinator_email,)])
    for name in ("Kabupaten Blitar", "Kabupaten Mojokerto", "Kabupaten Sumenep", "Kota Blitar"):
        assert name in digest
    # worst first: the agencies with a high-severity finding come before Kabupaten Blitar (overdue only)
    assert digest.index("Kabupaten Sumenep") < digest.index("Kabupaten Blitar (35.05)")
    mojokerto = body(by_recipient[("admin@mojokertokab.example",)])
    assert "April 2021" in mojokerto and "belum diterima" in mojokerto
    assert "Blitar" not in mojokerto  # only its own findings


def test_complaint_text_arrives_escaped(crafted):
    settings, url, mailbox = crafted
    (message,) = [m for rcpts, m in mailbox.messages if rcpts == ["admin@blitarkab.example"]]
    html = body(message, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Jalan rusak" in html
    assert "3000002" in body(message) and "terlambat 4 hari kerja" in body(message)


def test_rerun_sends_nothing_new_and_reminders_wait_the_set_days(crafted):
    from lapor import pipeline

    settings, url, mailbox = crafted
    mailbox.clear()
    pipeline.check(D, settings)
    pipeline.alert(D, settings)
    assert mailbox.messages == []

    # the next day: Blitar's overdue complaint is the same finding, so Blitar is not told again
    pipeline.check(date(2021, 5, 28), settings)
    pipeline.alert(date(2021, 5, 28), settings)
    blitar = [m for rcpts, m in mailbox.messages if rcpts == ["admin@blitarkab.example"]]
    assert len(blitar) == 1  # only the new finding: no export on the 28th
    assert "Ekspor laporan tanggal 28 Mei 2021 tidak diterima" in body(blitar[0])
    assert "3000002" not in body(blitar[0])

    # the overdue complaints, chronic by nature, come back in the weekly summary (Monday,
    # LAPOR_WEEKLY_SUMMARY_DAY); the export stream missing since the 28th is one working day old,
    # under LAPOR_REMINDER_DAYS (3): no reminder yet
    mailbox.clear()
    pipeline.check(date(2021, 5, 31), settings)
    pipeline.alert(date(2021, 5, 31), settings)
    (weekly,) = [m for rcpts, m in mailbox.messages if rcpts == ["admin@blitarkab.example"]]
    assert "Ringkasan mingguan" in weekly["Subject"]
    assert "Ringkasan mingguan:\n- Pengaduan belum ditindaklanjuti" in body(weekly).replace("\r\n", "\n")
    assert "3000002" in body(weekly) and "Ekspor" not in body(weekly)


def test_validation_results_are_published_as_data_docs(crafted):
    from lapor.quality.checks import data_docs_index

    settings, url, _ = crafted
    index = data_docs_index(settings)
    assert index.exists()
    validations = list((index.parent / "validations").rglob("*.html"))
    assert validations, "no validation page in the Data Docs site"
    assert any("coordinator_checks" in p.read_text(errors="replace") for p in validations)


def test_checks_fast_path_equals_slow_path(crafted, tmp_path):
    """The checks stage as the pipeline runs it (lapor.quality.gx_night: one GX context for
    both checkpoints, the Data Docs built once after them, altair and scipy.stats left
    unimported) records the same rows as GX's usual way (a context per checkpoint, an
    UpdateDataDocsAction in each), and either way the site links every validation of the run."""
    import pickle
    import subprocess
    import sys
    from urllib.parse import quote

    from lapor.quality import checks, suites
    from lapor.quality.checks import data_docs_index
    from lapor.quality.gx_night import Night

    settings, url, _ = crafted
    index = data_docs_index(settings)
    pages = index.parent / "validations"

    def rows():
        with psycopg.connect(url) as conn:
            return (conn.execute("select check_name, agency_code, passed, severity, details, facts::text "
                                 "from quality.check_results where run_date = %s order by 1, 2", (D,)).fetchall(),
                    conn.execute("select suite, expectation, target, success, result::text from quality.suite_results "
                                 "where run_date = %s order by 1, 2, 3, 5", (D,)).fetchall())

    def published(before: set):
        """The validation pages the run added, one per suite, each linked from the index."""
        new = {p.relative_to(index.parent) for p in pages.rglob("*.html")} - before
        assert sorted(p.parts[1] for p in new) == sorted(["coordinator_checks", *suites.SUITES])
        text = index.read_text()
        assert all(quote(p.as_posix()) in text for p in new), "a validation of the run missing from the index"
        return new | before

    seen = {p.relative_to(index.parent) for p in pages.rglob("*.html")}
    checks.run_checks(url, settings, D, Night(settings, docs_each_checkpoint=True))
    suites.run_suites(url, settings, D, Night(settings, docs_each_checkpoint=True))
    slow = rows()
    seen = published(seen)
    assert slow[0] and slow[1] and not all(r[2] for r in slow[0])

    with psycopg.connect(url) as conn:
        conn.execute("delete from quality.check_results where run_date = %s", (D,))
        conn.execute("delete from quality.suite_results where run_date = %s", (D,))
    (tmp_path / "settings.pickle").write_bytes(pickle.dumps(settings))
    script = ("import pickle, sys, json; from datetime import date; from lapor import pipeline\n"
              f"pipeline.check(date.fromisoformat({D.isoformat()!r}), pickle.loads(open(sys.argv[1], 'rb').read()))\n"
              "print(json.dumps([m for m in ('altair.vegalite', 'scipy.stats._stats_py') if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "settings.pickle")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", "altair or scipy.stats imported by the checks stage"
    assert rows() == slow
    published(seen)


def test_warehouse_suites_pass_on_clean_marts_and_a_broken_mart_reaches_the_digest(crafted):
    from lapor import pipeline

    settings, url, mailbox = crafted
    with psycopg.connect(url) as conn:
        results = conn.execute("select suite, success from quality.suite_results where run_date = %s", (D,)).fetchall()
    assert {s for s, _ in results} >= {"raw_complaints", "marts_backlog_daily", "marts_agency_scorecard"}
    assert all(ok for _, ok in results)
    with psycopg.connect(url) as conn:
        conn.execute("update marts.agency_scorecard set completion_rate = 150 where as_of_date = %s "
                     "and agency_code = '35.05'", (D,))
    mailbox.clear()
    pipeline.check(D, settings)
    pipeline.alert(D, settings)
    with psycopg.connect(url) as conn:
        failed = conn.execute("select suite, target from quality.suite_results where run_date = %s and not success",
                              (D,)).fetchall()
    assert failed == [("marts_agency_scorecard", "completion_rate")]
    (digest,) = [m for rcpts, m in mailbox.messages if rcpts == [settings.coordinator_email]]
    assert "uji kualitas data gagal" in digest["Subject"]
    assert "marts_agency_scorecard" in body(digest)


def test_marts_complaints_validates_what_the_night_rebuilt(crafted):
    """marts_resolution_monthly is a table asset (GX reflects its columns instead of fetching a
    query's whole result to learn them) and validates every row. marts_complaints validates the
    table intermediate.int_complaints__rebuilt: the complaints the night's build rebuilt, as the
    scoped dbt tests do. After a full rebuild that is every complaint, and a negative duration
    fails the suite; a night that rebuilt nothing validates nothing, not 10 million rows."""
    import json

    from lapor import pipeline
    from lapor.quality.suites import ENGINE_KWARGS, SUITES
    from lapor.settings import EXPECTATIONS_DIR
    from lapor.transform import run_dbt

    settings, url, _ = crafted

    def element_counts(conn, name: str) -> set:
        return {r[0]["element_count"] for r in conn.execute(
            "select result from quality.suite_results where run_date = %s and suite = %s "
            "and result ? 'element_count'", (D, name))}

    assert "enable_nestloop=off" in ENGINE_KWARGS["connect_args"]["options"]
    with psycopg.connect(url) as conn:
        suites = {s for (s,) in conn.execute("select distinct suite from quality.suite_results where run_date = %s",
                                             (D,))}
        assert suites == set(SUITES)
        for name, table in (("marts_complaints", "intermediate.int_complaints__rebuilt"),
                            ("marts_resolution_monthly", "marts.agg_resolution_monthly")):
            assert json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())["meta"]["table"] == table
        assert conn.execute("select is_full from intermediate.int_build_window").fetchone()[0] is True
        monthly = conn.execute("select count(*) from marts.agg_resolution_monthly").fetchone()[0]
        assert element_counts(conn, "marts_resolution_monthly") == {monthly}
        complaints = conn.execute("select count(*) from marts.fct_complaints").fetchone()[0]
        assert complaints > 0 and element_counts(conn, "marts_complaints") == {complaints}
        (before,) = conn.execute("select working_days_to_close from marts.fct_complaints "
                                 "where tracking_id = '3000011'").fetchone()
        conn.execute("update marts.fct_complaints set working_days_to_close = -1 where tracking_id = '3000011'")
    # the table of what the build rebuilt is made from fct_complaints as the build left it
    assert run_dbt(["run", "--select", "int_complaints__rebuilt"], url, settings).success
    pipeline.check(D, settings)
    with psycopg.connect(url) as conn:
        failed = conn.execute("select suite, target, result from quality.suite_results where run_date = %s "
                              "and not success and suite = 'marts_complaints'", (D,)).fetchall()
        conn.execute("update marts.fct_complaints set working_days_to_close = %s where tracking_id = '3000011'",
                     (before,))
        assert conn.execute("select relkind from pg_class where oid = 'intermediate.int_complaints__rebuilt'::regclass"
                            ).fetchone()[0] == "r"
    assert [(s, t) for s, t, _ in failed] == [("marts_complaints", "working_days_to_close")]
    assert failed[0][2]["unexpected_count"] == 1 and failed[0][2]["partial_unexpected_list"] == [-1]

    # the same date built again with nothing new: an incremental build that rebuilt no complaint
    pipeline.transform(D, settings)
    pipeline.check(D, settings)
    with psycopg.connect(url) as conn:
        assert conn.execute("select is_full from intermediate.int_build_window").fetchone()[0] is False
        assert conn.execute("select count(*) from intermediate.int_changed_complaints").fetchone()[0] == 0
        assert element_counts(conn, "marts_complaints") == {0}
        assert element_counts(conn, "marts_resolution_monthly") == {monthly}
        assert conn.execute("select bool_and(success) from quality.suite_results where run_date = %s "
                            "and suite = 'marts_complaints'", (D,)).fetchone()[0] is True


def test_raw_suite_validates_the_run_dates_rows_as_a_view(crafted):
    """raw_complaints validates the rows loaded for the run date through the view
    staging.stg_raw__complaints_on_check_date, which reads the date from the connection's setting
    lapor.check_date (GX fetched a query asset's whole result only to learn its columns). The
    run date's rows, all of them and no other day's: an unknown status on D fails the suite, the
    same on 24 May does not; a connection without the setting sees no rows."""
    import json

    from lapor import pipeline
    from lapor.quality.suites import CHECK_DATE_SETTING, engine_kwargs
    from lapor.settings import EXPECTATIONS_DIR

    settings, url, _ = crafted
    meta = json.loads((EXPECTATIONS_DIR / "raw_complaints.json").read_text())["meta"]
    assert meta["table"] == "staging.stg_raw__complaints_on_check_date" and "query" not in meta
    assert f"-c {CHECK_DATE_SETTING}=2021-05-27" in engine_kwargs(D)["connect_args"]["options"]

    def raw_results(conn) -> list[tuple]:
        return conn.execute("select target, success, result->'element_count' from quality.suite_results "
                            "where run_date = %s and suite = 'raw_complaints' order by 1", (D,)).fetchall()

    with psycopg.connect(url) as conn:
        on_d = conn.execute("select count(*) from raw.complaints where export_day = %s", (D,)).fetchone()[0]
        other = conn.execute("select count(*) from raw.complaints where export_day <> %s", (D,)).fetchone()[0]
        assert on_d > 0 and other > 0
        results = raw_results(conn)
        assert results and all(ok for _, ok, _ in results)
        assert {n for _, _, n in results if n is not None} == {on_d}
        assert conn.execute("select count(*) from staging.stg_raw__complaints_on_check_date").fetchone()[0] == 0
        conn.execute(f"set {CHECK_DATE_SETTING} = '2021-05-24'")
        assert conn.execute("select count(*) from staging.stg_raw__complaints_on_check_date").fetchone()[0] == other
        (earlier, earlier_status) = conn.execute("select tracking_id, status from raw.complaints "
                                                 "where export_day = '2021-05-24' order by tracking_id limit 1").fetchone()
        conn.execute("update raw.complaints set status = 'no such status' where export_day = '2021-05-24' "
                     "and tracking_id = %s", (earlier,))
    pipeline.check(D, settings)
    with psycopg.connect(url) as conn:
        assert all(ok for _, ok, _ in raw_results(conn))
        (today, before) = conn.execute("select tracking_id, status from raw.complaints where export_day = %s "
                                       "order by tracking_id limit 1", (D,)).fetchone()
        conn.execute("update raw.complaints set status = 'no such status' where export_day = %s "
                     "and tracking_id = %s", (D, today))
    pipeline.check(D, settings)
    with psycopg.connect(url) as conn:
        failed = [target for target, ok, _ in raw_results(conn) if not ok]
        conn.execute("update raw.complaints set status = %s where export_day = %s and tracking_id = %s",
                     (before, D, today))
        conn.execute("update raw.complaints set status = %s where export_day = '2021-05-24' and tracking_id = %s",
                     (earlier_status, earlier))
    assert failed == ["status"]
    pipeline.check(D, settings)


def test_a_check_that_cannot_run_is_reported_not_passed(crafted, monkeypatch):
    """Runs last: it leaves the run's check results broken on purpose."""
    from lapor import pipeline
    from lapor.quality import checks

    settings, url, mailbox = crafted

    def broken(conn, day, settings):
        raise RuntimeError("relation marts.something does not exist")

    monkeypatch.setitem(checks.QUERIES, "sk_missing", broken)
    mailbox.clear()
    pipeline.check(D, settings)
    with psycopg.connect(url) as conn:
        rows = conn.execute("select passed, severity, details from quality.check_results "
                            "where run_date = %s and check_name = 'sk_missing'", (D,)).fetchall()
    assert len(rows) == 4
    assert all(not passed and severity == "error" and "could not run" in details for passed, severity, details in rows)
    pipeline.alert(D, settings)
    digests = [m for rcpts, m in mailbox.messages if rcpts == [settings.coordinator_email]]
    assert len(digests) == 1 and "pemeriksaan gagal" in digests[0]["Subject"]
    assert "SK pengelola pengaduan belum ada: the check could not run" in body(digests[0])
