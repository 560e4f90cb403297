"""The operators' failure notice arrives (issue 13, defect 5).

Under `lapor run` / `lapor backfill` (Airflow's `dag.test()`) the DAG's on_failure_callback
gets the scheduler's SerializedDAG, which has no template environment: the notice used to die
there (`'SerializedDAG' object has no attribute 'get_template_env'`) and nobody heard of the
failed night. Here failed nights run for real, with a real SMTP server, through the Airflow
connection `smtp_alerts` and without it (LAPOR_SMTP_URL). The real scheduler's side is in
tests/test_scheduler_smoke.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest

OPERATORS = "operator.lapor@diskominfo.jatim.example"
LAPOR = Path(sys.executable).with_name("lapor")


def body(message, kind: str = "plain") -> str:
    return message.get_body(preferencelist=(kind,)).get_content()


def smtp_alerts_uri(smtp_url: str) -> str:
    host_port = smtp_url.split("://", 1)[1]
    return f"smtp://{host_port}?disable_ssl=true&disable_tls=true&from_email=airflow%40lapor.example"


@pytest.fixture
def night_without_connection(scratch, smtp_server, tmp_path, monkeypatch):
    """A DAG night's environment with the operators' address and LAPOR_SMTP_URL, no connection
    `smtp_alerts`: (the warehouse URL, the mailbox, emptied)."""
    _, url, _ = scratch
    smtp_url, mailbox = smtp_server
    monkeypatch.setenv("LAPOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAPOR_WAREHOUSE_URL", url)
    monkeypatch.setenv("LAPOR_SMTP_URL", smtp_url)
    monkeypatch.setenv("LAPOR_OPERATORS_EMAIL", OPERATORS)
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_ALERTS", raising=False)
    mailbox.clear()
    return url, mailbox


def test_a_night_for_a_refused_date_fails_at_prepare_and_the_operators_are_told(night_without_connection, tmp_path):
    """A run of the DAG for 2099-01-01 (as the UI or the REST API could trigger it): prepare
    fails at once, no later step runs, nothing is written, and the operators get the notice
    (no connection `smtp_alerts` here: through LAPOR_SMTP_URL)."""
    from lapor.runner import run_date
    from lapor.settings import Settings

    url, mailbox = night_without_connection
    log = tmp_path / "airflow.log"
    outcome = run_date(Settings.from_env(), date(2099, 1, 1), tmp_path, log_file=log)

    assert outcome.state == "failed"
    assert sorted(outcome.failed_tasks) == ["agencies (upstream_failed)", "ingest_agency (upstream_failed)",
                                            "prepare (failed)", "watcher (failed)"], outcome.failed_tasks
    assert "get_template_env" not in log.read_text()
    (recipients, notice), = mailbox.messages
    assert recipients == [OPERATORS]
    assert notice["Subject"] == "[LAPOR! Jatim] Proses malam lapor_nightly gagal (2099-01-01)"
    assert "lapor run --date 2099-01-01" in body(notice, "html")
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from raw.pipeline_runs").fetchone()[0] == 0
        assert conn.execute("select count(*) from quality.run_status").fetchone()[0] == 0


def test_a_night_stopped_by_a_wrong_setting_is_still_told_to_the_operators(night_without_connection, tmp_path,
                                                                           monkeypatch):
    """A deployment's scheduler runs the DAG with LAPOR_REMINDER_DAYS=zero in its environment:
    `prepare` stops at the setting, and the notice goes out all the same (it reads only what it
    needs: LAPOR_SMTP_URL, the sender, the outbox, the operators). It used to read every setting
    and die on the same one: a night that never started was told to nobody."""
    from lapor.runner import run_date
    from lapor.settings import Settings

    _, mailbox = night_without_connection
    settings = Settings.from_env()
    monkeypatch.setenv("LAPOR_REMINDER_DAYS", "zero")
    log = tmp_path / "airflow.log"
    outcome = run_date(settings, date(2021, 5, 27), tmp_path, log_file=log)

    assert outcome.state == "failed"
    assert "prepare (failed)" in outcome.failed_tasks, outcome.failed_tasks
    (recipients, notice), = mailbox.messages
    assert recipients == [OPERATORS]
    assert notice["Subject"] == "[LAPOR! Jatim] Proses malam lapor_nightly gagal (2021-05-27)"
    assert "prepare" in body(notice)


def test_lapor_run_tells_the_operators_and_the_coordinator(scratch, smtp_server, tmp_path):
    """`lapor run` for a night whose prepare fails (a registry entry the pipeline refuses, with
    HTML in it): exit 1; the operators' failure notice through the connection `smtp_alerts`;
    the coordinator's "run incomplete" notice; no agency e-mail; every reason escaped."""
    _, url, _ = scratch
    smtp_url, mailbox = smtp_server
    registry = tmp_path / "agencies.csv"
    registry.write_text(
        "agency_code,agency_name,agency_type,sk_number,sk_date,admin_email,source,source_url\n"
        "35.01,Kabupaten Pacitan,kabupaten,,,admin@pacitankab.example,folder,\n"
        "<b>35.02</b>,Kabupaten Ponorogo,kabupaten,,,admin@ponorogokab.example,folder,\n")
    exports = tmp_path / "exports"
    exports.mkdir()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAPOR_"))}
    env.update(LAPOR_HOME=str(home), LAPOR_WAREHOUSE_URL=url, LAPOR_REGISTRY=str(registry),
               LAPOR_OPERATORS_EMAIL=OPERATORS, AIRFLOW_CONN_SMTP_ALERTS=smtp_alerts_uri(smtp_url))
    mailbox.clear()
    proc = subprocess.run([str(LAPOR), "run", "--date", "2021-05-25", "--exports", str(exports)],
                          capture_output=True, text=True, env=env, timeout=600)
    log = (home / "logs" / "lapor.log").read_text()
    assert proc.returncode == 1, proc.stdout + proc.stderr + log[-3000:]
    assert "0 of 1 run(s) succeeded" in proc.stdout
    assert "get_template_env" not in log

    by_recipient = {tuple(rcpts): message for rcpts, message in mailbox.messages}
    assert set(by_recipient) == {(OPERATORS,), ("koordinator.lapor@diskominfo.jatim.example",)}, \
        [(r, m["Subject"]) for r, m in mailbox.messages]
    failure = by_recipient[(OPERATORS,)]
    assert failure["Subject"] == "[LAPOR! Jatim] Proses malam lapor_nightly gagal (2021-05-25)"
    assert failure["From"] == "airflow@lapor.example"  # through the connection smtp_alerts
    assert "Tugas: prepare" in body(failure, "html")

    incomplete = by_recipient[("koordinator.lapor@diskominfo.jatim.example",)]
    assert "PROSES TIDAK LENGKAP 25 Mei 2021" in incomplete["Subject"]
    text, html = body(incomplete), body(incomplete, "html")
    assert "Yang gagal: persiapan (gudang data, kalender kerja dan daftar instansi)" in text
    assert "'<b>35.02</b>' is not like 35.05" in text
    assert "&#39;&lt;b&gt;35.02&lt;/b&gt;&#39; is not like 35.05" in html and "<b>35.02" not in html
    assert "lapor run --date 2021-05-25" in html

    report = (home / "reports" / "laporan-2021-05-25.html").read_text()
    assert "LAPORAN TIDAK LENGKAP" in report and "&lt;b&gt;35.02&lt;/b&gt;" in report


@pytest.mark.parametrize("reason", [
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(2)>",
    "{{ 7 * 7 }} {% if true %}jinja{% endif %}",
])
def test_the_notice_escapes_the_failure_reason(smtp_server, monkeypatch, reason):
    """Whatever the reason says arrives as text: escaped in the HTML, never run as a template."""
    import importlib.util

    smtp_url, mailbox = smtp_server
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_ALERTS", smtp_alerts_uri(smtp_url))
    monkeypatch.setenv("LAPOR_OPERATORS_EMAIL", OPERATORS)
    path = Path(__file__).resolve().parents[1] / "dags" / "lapor_nightly.py"
    spec = importlib.util.spec_from_file_location("lapor_nightly_notice_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class TI:
        task_id = "transform"

    import pendulum

    mailbox.clear()
    module.failure_notice({"dag": module.nightly, "ti": TI(), "reason": reason,
                           "logical_date": pendulum.datetime(2021, 5, 27, 2, tz="Asia/Jakarta")})
    (recipients, message), = mailbox.messages
    assert recipients == [OPERATORS]
    assert message["Subject"] == "[LAPOR! Jatim] Proses malam lapor_nightly gagal (2021-05-27)"
    html = body(message, "html")
    from markupsafe import escape

    assert f"Alasan: {escape(reason)}" in html
    assert "<script" not in html and "<img" not in html
    assert "49" not in html and "jinja</p>" not in html
