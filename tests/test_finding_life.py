"""The life of a finding (docs/checks.md): opened → reminded → escalated → resolved, each told
once over real SMTP, re-runs sending nothing new, and a finding that resolves and comes back
being a new finding. Check results are written straight into quality.check_results (real
PostgreSQL), night after night, and each night is mailed as pipeline.alert mails it.
"""
from __future__ import annotations

import dataclasses
from datetime import date

import psycopg
import pytest
from psycopg.types.json import Jsonb

ADMIN = "admin@blitarkab.example"
HEAD = "bupati@blitarkab.example"
APRIL = {"period": "2021-04-01", "label": "April 2021", "due_date": "2021-05-07"}
# June 2021: no holiday from the 7th to the 15th; the 7th and the 14th are Mondays
NIGHTS = [date(2021, 6, d) for d in (7, 8, 9, 10, 11, 14, 15)]


def results(day: date) -> list[tuple]:
    """Blitar's check results on each night: April's report missing from the 7th to the 11th, received
    late on the 14th, missing again on the 15th (a corrected file took it away); complaints past the
    follow-up limit every night."""
    rows = []
    missing = day != date(2021, 6, 14)
    rows.append((day, "followup_report_missing", "35.05", not missing, "high",
                 "1 follow-up report(s) missing" if missing else "ok",
                 Jsonb({"months": [APRIL]} if missing else {})))
    late = day == date(2021, 6, 14)
    rows.append((day, "followup_report_late", "35.05", not late, "medium", "late" if late else "ok",
                 Jsonb({"months": [dict(APRIL, submitted_on=day.isoformat(), working_days_late=25)]} if late else {})))
    rows.append((day, "followup_overdue", "35.05", False, "medium", "1 complaint(s)", Jsonb({
        "count": 1, "limit": 5, "oldest": {"tracking_id": "3000002", "working_days": 9},
        "cases": [{"tracking_id": "3000002", "dispositioned_on": "2021-05-10", "working_days": 9,
                   "working_days_late": 4, "title": "Jalan rusak"}]})))
    return rows


@pytest.fixture()
def night(scratch, smtp_server):
    """(settings, url, mailbox, run): run(day) records that night's results and mails it."""
    from lapor.alerts import compose_messages, deliver
    from lapor.calendar import write_calendar

    settings, url, _ = scratch
    smtp_url, mailbox = smtp_server
    settings = dataclasses.replace(settings, smtp_url=smtp_url, reminder_days=2, escalation_after_reminders=1,
                                   weekly_summary_day=1)
    with psycopg.connect(url) as conn:
        write_calendar(conn)
        conn.execute("""insert into ref.agencies (agency_code, agency_name, agency_type, admin_email, head_email)
                        values ('35.05', 'Kabupaten Blitar', 'kabupaten', %s, %s)""", (ADMIN, HEAD))
        conn.commit()

    def run(day: date, record: bool = True) -> list:
        with psycopg.connect(url) as conn:
            if record:
                conn.execute("delete from quality.check_results where run_date = %s", (day,))
                with conn.cursor() as cur:
                    cur.executemany("insert into quality.check_results values (%s, %s, %s, %s, %s, %s, %s)",
                                    results(day))
                conn.commit()
            mailbox.clear()
            deliver(conn, settings, compose_messages(conn, settings, day))
            conn.commit()
        return list(mailbox.messages)

    return settings, url, mailbox, run


def text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def to_agency(messages) -> list:
    return [m for rcpts, m in messages if ADMIN in rcpts]


def test_open_remind_escalate_resolve_reopen_each_told_once(night):
    settings, url, mailbox, run = night
    sent = {}
    for day in NIGHTS:
        messages = run(day)
        sent[day] = to_agency(messages)
        digests = [m for rcpts, m in messages if rcpts == [settings.coordinator_email]]
        assert len(digests) == 1, day
        sent[day, "digest"] = digests[0]
        # the same night again: nothing new is sent
        assert run(day, record=False) == [], day

    # 7 June: both findings open; one message tells them
    (opened,) = sent[NIGHTS[0]]
    assert opened["Subject"] == "[LAPOR! Jatim] Temuan pemantauan Kabupaten Blitar – 7 Juni 2021"
    assert "Laporan bulan April 2021 (jatuh tempo 7 Mei 2021) belum diterima." in text(opened)
    assert "3000002" in text(opened) and opened["Cc"] is None
    assert "2 temuan baru" in sent[NIGHTS[0], "digest"]["Subject"]
    # 8 June: one working day open, under LAPOR_REMINDER_DAYS (2): silence, and a one-line digest
    assert sent[date(2021, 6, 8)] == []
    digest = sent[date(2021, 6, 8), "digest"]
    assert digest["Subject"] == "[LAPOR! Jatim] Pemantauan 8 Juni 2021: tidak ada temuan baru (2 temuan terbuka)"
    assert "Tidak ada temuan baru, temuan selesai, atau eskalasi sejak pemantauan sebelumnya; 2 temuan masih " \
           "terbuka." in text(digest)
    # 9 June: two working days: the first reminder (overdue complaints are not reminded daily)
    (reminder,) = sent[date(2021, 6, 9)]
    assert reminder["Subject"].startswith("[Pengingat] ")
    assert "[pengingat] Laporan hasil tindak lanjut belum disampaikan" in text(reminder)
    assert "3000002" not in text(reminder) and reminder["Cc"] is None
    assert sent[date(2021, 6, 10)] == []
    # 11 June: the reminder after LAPOR_ESCALATION_AFTER_REMINDERS (1) is an escalation, in copy
    (escalation,) = sent[date(2021, 6, 11)]
    assert "ESKALASI" in escalation["Subject"]
    assert escalation["Cc"] == f"{settings.coordinator_email}, {HEAD}"
    assert "pimpinan instansi" in text(escalation) and "pengingat ke-2" in text(escalation)
    assert "1 eskalasi" in sent[date(2021, 6, 11), "digest"]["Subject"]
    assert "Eskalasi hari ini (1)" in text(sent[date(2021, 6, 11), "digest"])
    # the escalation reached the copies over SMTP too
    # 14 June (Monday): the report came, late: a thank-you; the overdue complaints' weekly summary
    (monday,) = sent[date(2021, 6, 14)]
    assert "Ringkasan mingguan:\n- Pengaduan belum ditindaklanjuti" in text(monday)
    assert "Terima kasih, temuan berikut sudah selesai:\n- laporan April 2021 diterima 14 Juni 2021 " \
           "(terlambat 25 hari kerja)." in text(monday)
    digest = text(sent[date(2021, 6, 14), "digest"])
    assert "Selesai hari ini (1):\n  - Kabupaten Blitar (35.05): laporan April 2021 diterima 14 Juni 2021 " \
           "(terlambat 25 hari kerja)" in digest
    assert "Temuan terbuka (1, 1 instansi)" in digest
    assert "Kabupaten Blitar (35.05) | Pengaduan belum ditindaklanjuti melewati batas waktu | 7 Juni 2021 | 5" \
        in digest
    # 15 June: missing again: a new finding, told as new
    (again,) = sent[date(2021, 6, 15)]
    assert again["Subject"] == "[LAPOR! Jatim] Temuan pemantauan Kabupaten Blitar – 15 Juni 2021"
    assert "1 temuan baru" in sent[date(2021, 6, 15), "digest"]["Subject"]

    with psycopg.connect(url) as conn:
        lives = conn.execute(
            """select check_name, subject, opened_on, last_seen_on, resolved_on from quality.findings
               order by check_name, opened_on""").fetchall()
        told = conn.execute(
            """select f.opened_on, n.kind, n.seq, n.escalated, n.run_date from quality.finding_notices n
               join quality.findings f using (finding_id)
               where f.check_name = 'followup_report_missing' order by n.run_date, n.kind""").fetchall()
    assert lives == [
        ("followup_overdue", "overdue", date(2021, 6, 7), date(2021, 6, 15), None),
        ("followup_report_missing", "report:2021-04", date(2021, 6, 7), date(2021, 6, 11), date(2021, 6, 14)),
        ("followup_report_missing", "report:2021-04", date(2021, 6, 15), date(2021, 6, 15), None)]
    assert told == [(date(2021, 6, 7), "opened", 0, False, date(2021, 6, 7)),
                    (date(2021, 6, 7), "reminder", 1, False, date(2021, 6, 9)),
                    (date(2021, 6, 7), "reminder", 2, True, date(2021, 6, 11)),
                    (date(2021, 6, 7), "resolved", 0, False, date(2021, 6, 14)),
                    (date(2021, 6, 15), "opened", 0, False, date(2021, 6, 15))]

    # re-running earlier nights afterwards opens, resolves and sends nothing again
    for day in NIGHTS:
        assert to_agency(run(day)) == [], day


def test_escalation_copies_only_plain_addresses(night):
    """A head address in the warehouse from before the registry was checked (CR/LF, markup) is
    left out of the copy; the escalation still reaches the admin and the coordinator."""
    settings, url, mailbox, run = night
    with psycopg.connect(url) as conn:
        conn.execute("update ref.agencies set head_email = %s",
                     ("bupati@blitarkab.example\r\nBcc: all@evil.example<img src=x onerror=alert(1)>",))
        conn.commit()
    for day in NIGHTS[:4]:
        run(day)
    messages = run(NIGHTS[4])
    (escalation,) = to_agency(messages)
    assert escalation["Cc"] == settings.coordinator_email
    (rcpts,) = [r for r, m in messages if ADMIN in r]
    assert sorted(rcpts) == sorted([ADMIN, settings.coordinator_email])
    assert "evil" not in str(escalation) and "<img" not in str(escalation)


@pytest.mark.parametrize("value, problem", [
    ("bupati@blitarkab.example\x00", "NUL"),
    ('"bupati@blitarkab.example\r\nBcc: all@evil.example"', "CR"),
    ("<img src=x onerror=alert(1)>", "not one plain e-mail address"),
    ("Bupati <bupati@blitarkab.example>", "not one plain e-mail address"),
])
def test_registry_head_email_is_one_plain_address(tmp_path, value, problem):
    from lapor.registry import RegistryError, load_registry

    path = tmp_path / "registry.csv"
    quoted = value if value.startswith('"') else f'"{value}"'
    path.write_text("agency_code,agency_name,agency_type,admin_email,head_email\n"
                    f"35.05,Kabupaten Blitar,kabupaten,admin@blitarkab.example,{quoted}\n", newline="")
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    assert problem in str(raised.value)
    assert "line 2" in str(raised.value)


def test_registry_head_email_is_optional_and_read(tmp_path):
    from lapor.registry import load_registry

    path = tmp_path / "registry.csv"
    path.write_text("agency_code,agency_name,agency_type,admin_email,head_email\n"
                    "35.05,Kabupaten Blitar,kabupaten,admin@blitarkab.example,bupati@blitarkab.example\n"
                    "35.72,Kota Blitar,kota,admin@blitarkota.example,\n")
    blitar, kota = load_registry(path)
    assert (blitar.head_email, kota.head_email) == ("bupati@blitarkab.example", None)


def test_two_real_nights_through_the_dag_open_then_resolve_once(scratch, smtp_server, settings):
    """`lapor backfill` of 27 and 28 May 2021 through the Airflow DAG (its own LAPOR_HOME, a fresh
    database, real SMTP): Kabupaten Mojokerto's April report is missing on the 27th (told as new)
    and arrives on the 28th (a thank-you naming the day and the working days late); the finding
    is one row of marts.fct_findings with its history; running the 28th again sends nothing."""
    import os
    import subprocess
    import sys

    from test_checks_and_alerts import EXPORTS, FOLLOWUP, REGISTRY, REPORTS, write

    from urllib.parse import urlsplit, urlunsplit

    from lapor.warehouse import bi_reader_url

    session_settings = settings
    settings, url, exports = scratch
    smtp_url, mailbox = smtp_server
    registry = exports.parent / "registry.csv"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(REGISTRY)
    for code, body in EXPORTS.items():
        for day in ("2021-05-24", "2021-05-27", "2021-05-28"):
            write(exports, f"{code}/complaints/{day}.csv", body)
    for relpath, body in REPORTS.items():
        write(exports, relpath, body)
    write(exports, "35.16/followup/2021-04_2021-05-28.csv", FOLLOWUP + "3000011,17/03/2021,Diangkut\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(LAPOR_HOME=str(settings.home), LAPOR_WAREHOUSE_URL=url, LAPOR_SMTP_URL=smtp_url,
               LAPOR_REGISTRY=str(registry))

    def lapor(*args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "lapor.cli", *args, "--exports", str(exports)], env=env,
                              capture_output=True, text=True, timeout=1800)
        log = settings.home / "logs" / "lapor.log"
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + (
            log.read_text()[-5000:] if log.exists() else "")

    mailbox.clear()
    lapor("backfill", "--start", "2021-05-27", "--end", "2021-05-28")
    mojokerto = [m for rcpts, m in mailbox.messages if "admin@mojokertokab.example" in rcpts]
    assert [m["Subject"] for m in mojokerto] == [
        "[LAPOR! Jatim] Temuan pemantauan Kabupaten Mojokerto – 27 Mei 2021",
        "[LAPOR! Jatim] Terima kasih: temuan Kabupaten Mojokerto sudah selesai – 28 Mei 2021"]
    assert "Laporan bulan April 2021 (jatuh tempo 7 Mei 2021) belum diterima." in text(mojokerto[0])
    assert "laporan April 2021 diterima 28 Mei 2021 (terlambat 11 hari kerja)." in text(mojokerto[1])
    digests = [m for rcpts, m in mailbox.messages if rcpts == [settings.coordinator_email]]
    assert len(digests) == 2
    assert "Kabupaten Mojokerto (35.16): laporan April 2021 diterima 28 Mei 2021" in text(digests[1])
    with psycopg.connect(url) as conn:
        finding = conn.execute(
            """select opened_on, last_seen_on, resolved_on, is_open, subject_label, working_days_open
               from marts.fct_findings where agency_code = '35.16' and check_name = 'followup_report_missing'"""
        ).fetchall()
        events = conn.execute(
            """select e.event, e.event_on, e.agency_told from marts.fct_finding_events e
               join marts.fct_findings f using (finding_id)
               where f.agency_code = '35.16' and f.check_name = 'followup_report_missing' order by 2, 1""").fetchall()
    assert finding == [(date(2021, 5, 27), date(2021, 5, 27), date(2021, 5, 28), False, "Laporan April 2021", 1)]
    assert events == [("opened", date(2021, 5, 27), True), ("resolved", date(2021, 5, 28), True)]
    # the report: the finding resolved that day on the overview, its timeline on the agency's page
    overview = (settings.home / "reports" / "laporan-2021-05-28.html").read_text()
    assert 'id="temuan-terbuka"' in overview and "Selesai 28 Mei 2021:" in overview
    assert "Laporan hasil tindak lanjut belum disampaikan – Laporan April 2021, terbuka sejak 27 Mei 2021" in overview
    page = (settings.home / "reports" / "2021-05-28" / "agency-35_16.html").read_text()
    assert 'id="riwayat-temuan"' in page and "27 Mei dibuka; 28 Mei selesai" in page
    # bi_reader reads the findings and their history, and still nothing of `quality`
    bi = urlsplit(bi_reader_url(session_settings))
    bi = urlunsplit(bi._replace(path=urlsplit(url).path))
    with psycopg.connect(bi, autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.fct_findings where agency_code = '35.16' "
                            "and resolved_on = '2021-05-28'").fetchone()[0] == 1
        assert conn.execute("select count(*) from marts.fct_finding_events").fetchone()[0] >= 2
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from quality.finding_notices")

    mailbox.clear()
    lapor("run", "--date", "2021-05-28")
    assert mailbox.messages == []


def test_every_notice_kind_shows_outside_values_as_text(night):
    """The agency's name (registry) and a late report's label (facts) pass through the opened,
    reminder, escalation, weekly and thank-you parts and the digest's new/resolved/escalated/open
    sections as text, never as markup."""
    from html.parser import HTMLParser

    img = "<img src=x onerror=alert(1)>"

    class Tags(HTMLParser):
        def __init__(self, html):
            super().__init__()
            self.tags, self.text = [], ""
            self.feed(html)

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

        def handle_data(self, data):
            self.text += data

    settings, url, mailbox, run = night
    with psycopg.connect(url) as conn:
        conn.execute("update ref.agencies set agency_name = %s", (f"Kabupaten {img}",))
        conn.commit()
    seen = 0
    for day in NIGHTS:
        for _, message in run(day):
            html = message.get_body(preferencelist=("html",)).get_content()
            parsed = Tags(html)
            assert "img" not in parsed.tags, (day, message["Subject"])
            assert f"Kabupaten {img}" in parsed.text
            assert f"Kabupaten {img}" in text(message)
            seen += 1
    assert seen == 7 + 5     # seven digests; opened, reminder, escalation, weekly + thank-you, reopened


@pytest.mark.parametrize("raw, expected", [("", 1), ("5", 5), ("jumat", 5), ("Friday", 5), ("minggu", 7)])
def test_weekly_summary_day_is_a_weekday_number_or_name(monkeypatch, raw, expected):
    from lapor.settings import Settings

    monkeypatch.setenv("LAPOR_WEEKLY_SUMMARY_DAY", raw)
    assert Settings.from_env().weekly_summary_day == expected


@pytest.mark.parametrize("name, raw", [("LAPOR_WEEKLY_SUMMARY_DAY", "8"), ("LAPOR_WEEKLY_SUMMARY_DAY", "someday"),
                                       ("LAPOR_ESCALATION_AFTER_REMINDERS", "-1"),
                                       ("LAPOR_ESCALATION_AFTER_REMINDERS", "two")])
def test_a_wrong_finding_setting_is_named(monkeypatch, name, raw):
    from lapor.settings import SettingError, Settings

    monkeypatch.setenv(name, raw)
    with pytest.raises(SettingError) as raised:
        Settings.from_env()
    assert name in str(raised.value)


def test_a_late_report_on_the_first_night_is_in_the_digest(night):
    """No night saw April missing (the first night is the day it arrives): the digest still
    says it came, and how late; the agency, never told it was missing, gets no thank-you."""
    settings, url, mailbox, run = night
    day = date(2021, 6, 14)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany("insert into quality.check_results values (%s, %s, %s, %s, %s, %s, %s)",
                            [r for r in results(day) if r[1] != "followup_overdue"])
        conn.commit()
    messages = run(day, record=False)
    assert to_agency(messages) == []
    (digest,) = [m for rcpts, m in messages if rcpts == [settings.coordinator_email]]
    assert "Selesai hari ini (1):\n  - Kabupaten Blitar (35.05): laporan April 2021 diterima 14 Juni 2021 " \
           "(terlambat 25 hari kerja)" in text(digest)
    assert run(day, record=False) == []


def test_the_findings_are_planned_at_their_size(night):
    """quality.findings is estimated at about as many rows as it has, so its readers (the alerts,
    the report, a BI tool's join of marts.fct_findings with marts.fct_finding_events) join it by
    hashing. Joined back to check_results on three columns for the last run's severity, details
    and facts, it was estimated at one row whatever its size: at national scale (11,200
    findings) every reader joined the findings by nested loop, and a BI tool's count of the
    findings' events took 2.5 minutes (0.1 s now). Carrying the last run's row changes no
    finding: the night fixture's findings are those of the join, column by column."""
    settings, url, _, run = night
    for day in NIGHTS[:3]:
        run(day)
    many = [f"99.{i:03d}" for i in range(400)]
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                """insert into quality.check_results (run_date, check_name, agency_code, passed, severity, details, facts)
                   values (%s, 'followup_overdue', %s, false, 'medium', '1 complaint(s)', '{}')""",
                [(day, code) for day in NIGHTS[:3] for code in many])
        conn.execute("analyze quality.check_results")
        (plan,) = conn.execute("explain (format json) select * from quality.findings").fetchone()[0]
        actual = conn.execute("select count(*) from quality.findings").fetchone()[0]
        assert actual > 400
        assert plan["Plan"]["Plan Rows"] >= actual / 10, plan["Plan"]["Plan Rows"]
        joined = "\n".join(r[0] for r in conn.execute(
            "explain select * from quality.findings a join quality.findings b using (finding_id)"))
        assert joined.lstrip().startswith(("Hash Join", "Merge Join")), joined
        # the last run's row, carried through the aggregate, is the row a join would find
        assert conn.execute(
            """select count(*) from quality.findings f
               left join quality.check_results r on r.check_name = f.check_name
                    and r.agency_code = f.agency_code and r.run_date = f.last_seen_on
               where (r.severity, r.details, r.facts) is distinct from (f.severity, f.details, f.facts)"""
        ).fetchone()[0] == 0
