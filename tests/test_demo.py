"""`lapor demo` as a newcomer runs it (`make demo`): a LAPOR_HOME of its own, the sample exports of
all 38 agencies at full scale, the nightly DAG for each day from 24 to 31 May 2021, and every
e-mail caught by a real SMTP server (aiosmtpd). What the coordinator and the agencies receive
tells the seed scenario's story (docs/domain.md, "The seed scenario"):

- Kabupaten Blitar's April 2021 report is missing: the 27 May digest lists it open; it arrives
  on 31 May, 12 working days late, and the 31 May digest lists it as resolved; Blitar is
  thanked once;
- Kabupaten Sidoarjo stops entering complaints from 21 May: `volume_anomaly` on 28 May, the
  first night its window of 5 working days is empty, and not on 27 May, the day after Waisak
  (26 May), when no agency is flagged for its quiet holiday;
- the demo's mail is a handful of messages (it was 106 for five nights before findings had a
  life), and the summary the demo prints says how many went out.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import psycopg
import pytest

BLITAR = "35.05"
SIDOARJO = "35.15"
BLITAR_ADMIN = "admin.lapor@blitarkab.example"  # the demo's registry
DIGEST = "[LAPOR! Jatim] Pemantauan "


@pytest.fixture(scope="module")
def demo(smtp_server):
    """(summary printed by `lapor demo`, its warehouse URL, [(recipients, message)])."""
    from lapor.warehouse import EmbeddedServer

    smtp_url, mailbox = smtp_server
    base = Path(tempfile.mkdtemp(prefix="lapor-demo-"))
    base.chmod(0o755)  # the embedded server runs as the unprivileged user `pgserver` under root
    home = base / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAPOR_"))}
    env.update(LAPOR_HOME=str(home), LAPOR_SMTP_URL=smtp_url)
    mailbox.clear()
    try:
        proc = subprocess.run([sys.executable, "-m", "lapor.cli", "demo"], env=env, capture_output=True,
                              text=True, timeout=3600)
        messages = list(mailbox.messages)
        log = home / "logs" / "lapor.log"
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:] + (
            log.read_text()[-6000:] if log.exists() else "")
        url = subprocess.run([sys.executable, "-m", "lapor.cli", "warehouse-url"], env=env, capture_output=True,
                             text=True, timeout=120, check=True).stdout.strip()
        yield proc.stdout, url, messages
    finally:
        mailbox.clear()
        EmbeddedServer(home).stop()
        shutil.rmtree(base, ignore_errors=True)


def text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def digest(messages, day: str):
    found = [m for _, m in messages if m["Subject"].startswith(f"{DIGEST}{day}:")]
    assert len(found) == 1, [m["Subject"] for _, m in messages]
    return text(found[0])


def section(body: str, title: str) -> str:
    """The lines of a digest section, from its title to the next blank line."""
    match = re.search(rf"^{re.escape(title)}.*?(?=\n\n|\Z)", body, flags=re.M | re.S)
    return match.group(0) if match else ""


def test_the_27_may_digest_lists_blitars_april_report_open(demo):
    _, _, messages = demo
    body = digest(messages, "27 Mei 2021")
    open_section = section(body, "Temuan terbuka")
    assert re.search(r"Kabupaten Blitar \(35\.05\) \| Laporan hasil tindak lanjut belum disampaikan "
                     r"\(Laporan April 2021\) \| ", open_section), body


def test_the_31_may_digest_lists_it_resolved_and_blitar_is_thanked_once(demo):
    _, _, messages = demo
    body = digest(messages, "31 Mei 2021")
    resolved = section(body, "Selesai hari ini")
    assert ("Kabupaten Blitar (35.05): laporan April 2021 diterima 31 Mei 2021 (terlambat 12 hari kerja)"
            in resolved), body
    assert "(Laporan April 2021)" not in section(body, "Temuan terbuka")
    # Monday is the weekly summary's day (LAPOR_WEEKLY_SUMMARY_DAY): Blitar's one message of the
    # 31st is its weekly summary, and it carries the thank-you
    thanks = [m for rcpts, m in messages if BLITAR_ADMIN in rcpts and "Terima kasih" in text(m)]
    assert [m["Subject"] for m in thanks] == ["[LAPOR! Jatim] Ringkasan mingguan Kabupaten Blitar – 31 Mei 2021"]
    assert ("Terima kasih, temuan berikut sudah selesai:\n"
            "- laporan April 2021 diterima 31 Mei 2021 (terlambat 12 hari kerja).") in text(thanks[0])


def test_the_silent_agency_is_flagged_on_the_right_day_and_not_after_the_holiday(demo):
    _, url, _ = demo
    with psycopg.connect(url) as conn:
        flagged = conn.execute(
            """select run_date, agency_code from quality.check_results
               where check_name = 'volume_anomaly' and not passed order by 1, 2""").fetchall()
        judged = conn.execute(
            """select count(distinct agency_code) from quality.check_results
               where check_name = 'volume_anomaly' and run_date = '2021-05-27'""").fetchone()[0]
    first = {}
    for day, code in flagged:
        first.setdefault(code, day)
    assert first.get(SIDOARJO) == date(2021, 5, 28), flagged
    assert date(2021, 5, 27) not in {day for day, _ in flagged}, flagged  # the day after Waisak
    assert judged == 38  # every agency judged on the 27th, none flagged
    assert set(first) == {SIDOARJO}, flagged


def test_the_demo_sends_a_handful_of_mails_and_says_how_many(demo):
    summary, url, messages = demo
    assert 0 < len(messages) < 53, [m["Subject"] for _, m in messages]  # well under half of the 106 of before
    match = re.search(r"alert e-mails: +smtp://\S+ +\((\d+) via smtp in total\)", summary)
    assert match, summary
    assert int(match.group(1)) == len(messages)
    digests = [m["Subject"] for rcpts, m in messages if m["Subject"].startswith(DIGEST)]
    assert len(digests) == 8, digests  # one each night, 24 to 31 May
    assert "[LAPOR! Jatim] Pemantauan 26 Mei 2021: tidak ada temuan baru (6 temuan terbuka)" in digests
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from quality.alerts_sent").fetchone()[0] == len(messages)


def test_the_summary_cuts_long_details_and_keeps_their_last_part(demo):
    """Sidoarjo's details are cut in the middle: the line stays short and still says since when
    the agency has been silent (a cut at the end lost that date)."""
    summary, _, _ = demo
    line = next(x for x in summary.splitlines() if x.startswith("    - Kabupaten Sidoarjo (35.15): 0 new complaint"))
    assert len(line) < 200 and "; …; " in line and line.endswith("none since 2021-05-21"), line


def test_the_summary_shows_no_password(demo):
    """Both URLs in the summary are redacted; `lapor warehouse-url --bi` gives the reader's in full."""
    summary, url, _ = demo
    assert "BI tools connect to:  postgresql://bi_reader:***@127.0.0.1:" in summary, summary
    assert "lapor warehouse-url --bi" in summary
    assert not re.search(r"postgresql://\w+:(?!\*\*\*@)[^@\s]+@", summary), summary
