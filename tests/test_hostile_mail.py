"""Hostile text in the e-mails and the report (issue 13, defects 1 and 8).

Whatever an agency's file, the registry or a reason text holds arrives in every HTML part as
text: never as an element or an attribute the template did not write. A registry value with
a line break is refused when the registry is read, and one bad recipient costs one message,
not the whole night's mail.
"""
from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from email import message_from_bytes, policy
from html.parser import HTMLParser

import psycopg
import pytest
from psycopg.types.json import Jsonb

D = date(2021, 5, 27)
IMG = "<img src=x onerror=alert(2)>"


# --- what a mail reader's HTML parser makes of a part -------------------------------------------

class Parsed(HTMLParser):
    """The elements, attribute names and text of an HTML document, as html.parser sees them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: set[tuple[str, str]] = set()
        self.chunks: list[str] = []
        self.attr_values: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            self.attrs.add((tag, name))
            self.attr_values.append(value or "")

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def html_part(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def text_part(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


# --- a day of findings written straight into quality.check_results --------------------------------

def seed_findings(conn: psycopg.Connection, day: date, agency: dict, value: str) -> None:
    """One flagged agency with every kind of finding, `value` in each field that came from outside;
    an error row and a failed warehouse suite carrying it too; the previous day flagged so a
    finding shows as resolved."""
    code = agency["agency_code"]
    conn.execute("delete from ref.agencies")
    conn.execute(
        """insert into ref.agencies (agency_code, agency_name, agency_type, sk_number, sk_date, admin_email)
           values (%(agency_code)s, %(agency_name)s, 'kabupaten', %(sk_number)s, %(sk_date)s, %(admin_email)s)""",
        agency)
    for table in ("quality.check_results", "quality.suite_results", "quality.alerts_sent",
                  "quality.alert_findings"):
        conn.execute(f"delete from {table}")
    facts = {
        "export_unreadable": {"file": f"{code}/complaints/{value}.csv", "reason_code": "missing_columns",
                              "reason": f"the header names {value!s} are not an export's"},
        "export_missing": {"export_day": day.isoformat(), "source_error": value},
        "followup_report_missing": {"months": [{"period": "2021-04-01", "label": "April 2021",
                                                "due_date": "2021-05-07"}]},
        "followup_report_late": {"months": [{"period": "2021-03-01", "label": "Maret 2021",
                                             "due_date": "2021-04-07", "submitted_on": day.isoformat(),
                                             "working_days_late": 3}]},
        "followup_overdue": {"count": 1, "limit": 5, "oldest": {"tracking_id": value, "working_days": 9},
                             "cases": [{"tracking_id": value, "dispositioned_on": "2021-05-10",
                                        "working_days": 9, "working_days_late": 4, "title": value}]},
        "sk_missing": {"sk_number": agency["sk_number"], "sk_date": "2021-06-01"},
    }
    severity = {"export_unreadable": "high", "export_missing": "high", "followup_report_missing": "high",
                "followup_report_late": "medium", "followup_overdue": "medium", "sk_missing": "low"}
    rows = [(day, check, code, False, severity[check], f"{check}: {value}", Jsonb(f))
            for check, f in facts.items()]
    rows.append((day, "some_check", code, False, "error", f"could not run: {value}", Jsonb({})))
    # the day before: a finding of a kind not flagged today, so the digest lists it as resolved
    rows.append((day - timedelta(days=1), "resolved_check", code, False, "medium", value, Jsonb({})))
    rows.append((day, "resolved_check", code, True, "medium", "", Jsonb({})))
    with conn.cursor() as cur:
        cur.executemany(
            """insert into quality.check_results (run_date, check_name, agency_code, passed, severity, details, facts)
               values (%s, %s, %s, %s, %s, %s, %s)""", rows)
    conn.execute(
        """insert into quality.suite_results (run_date, suite, expectation, target, success, result)
           values (%s, %s, %s, %s, false, '{}')""", (day, value, value, value))


def test_html_in_every_outside_field_arrives_as_text_in_the_digest_and_the_agency_message(scratch, smtp_server):
    """Defect 1: `_labels.j2` was not autoescaped and its macros' output was trusted, so a
    reason, file name or tracking id such as <img src=x onerror=...> arrived as an element."""
    from lapor.alerts import compose_messages, deliver

    settings, url, _ = scratch
    smtp_url, mailbox = smtp_server
    settings = dataclasses.replace(settings, smtp_url=smtp_url)
    agency = {"agency_code": "35.05", "agency_name": f"Kabupaten {IMG}", "sk_number": f"188/{IMG}",
              "sk_date": date(2021, 6, 1), "admin_email": "admin@blitarkab.example"}
    with psycopg.connect(url) as conn:
        seed_findings(conn, D, agency, IMG)
        conn.commit()
        messages = compose_messages(conn, settings, D, report_url="file:///tmp/laporan.html")
        mailbox.clear()
        deliver(conn, settings, messages)
    received = {tuple(rcpts): message for rcpts, message in mailbox.messages}
    assert set(received) == {(settings.coordinator_email,), ("admin@blitarkab.example",)}
    for message in received.values():
        parsed = Parsed(html_part(message))
        assert "img" not in parsed.tags, f"an <img> element reached the HTML part of {message['To']}"
        assert not any(name.startswith("on") for _, name in parsed.attrs)
        # the value is shown, as text, where it belongs
        assert IMG in parsed.text
        assert IMG in text_part(message)               # the text part shows it unescaped
    digest = Parsed(html_part(received[(settings.coordinator_email,)]))
    agency_mail = Parsed(html_part(received[("admin@blitarkab.example",)]))
    for shown in (f"Kabupaten {IMG} (35.05)",                       # the agency's name (registry)
                  f"Berkas 35.05/complaints/{IMG}.csv ditolak",     # the file name
                  f"the header names {IMG} are not an export's",    # the reason text
                  f"yang terlama {IMG} (9 hari kerja)",             # a tracking id
                  f"SK 188/{IMG} baru berlaku",                      # the SK number (registry)
                  f"could not run: {IMG}",                           # a check's error
                  f"{IMG}: {IMG} ({IMG})",                           # a failed warehouse suite
                  f"Kabupaten {IMG} (35.05) [tinggi]",               # a finding new today (issue 16)
                  f"Kabupaten {IMG} (35.05): resolved_check: sudah tidak ditemukan lagi"):   # resolved today
        assert shown in digest.text, shown
    assert f"Kabupaten {IMG} (35.05)Pengaduan belum ditindaklanjuti" in digest.text   # the open findings' table
    assert f"Yth. Admin Pengelola Pengaduan Kabupaten {IMG}," in agency_mail.text
    assert f"Berkas 35.05/complaints/{IMG}.csv ditolak" in agency_mail.text
    assert agency_mail.text.count(IMG) >= 5   # the overdue table's tracking id and title too


# --- one bad recipient costs one message (defect 8) -----------------------------------------------

class Refusing:
    """An SMTP server's handler that answers 550 to the addresses in `refused` and keeps the rest."""

    def __init__(self, refused: set[str]):
        self.refused = set(refused)
        self.messages: list = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture()
def refusing_smtp():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Refusing({"admin@mojokertokab.example"})
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", handler
    finally:
        controller.stop()


def test_a_refused_recipient_and_a_broken_address_cost_their_own_messages_only(scratch, refusing_smtp):
    from lapor.alerts import compose_messages, deliver
    from lapor.alerts.send import AlertError

    settings, url, _ = scratch
    smtp_url, server = refusing_smtp
    settings = dataclasses.replace(settings, smtp_url=smtp_url)
    agencies = [("35.05", "Kabupaten Blitar", "admin@blitarkab.example"),
                ("35.16", "Kabupaten Mojokerto", "admin@mojokertokab.example"),          # the server says 550
                # in the warehouse from before the registry was checked: a header-injecting address and name
                ("35.29", "Kabupaten\r\nSumenep", "admin@sumenepkab.example\r\nBcc: all@evil.example"),
                ("35.72", "Kota Blitar", "admin@blitarkota.example")]
    with psycopg.connect(url, autocommit=True) as conn:    # as pipeline.alert opens it
        with conn.cursor() as cur:
            cur.executemany("insert into ref.agencies (agency_code, agency_name, agency_type, admin_email) "
                            "values (%s, %s, 'kabupaten', %s)", agencies)
            cur.executemany(
                """insert into quality.check_results (run_date, check_name, agency_code, passed, severity, details, facts)
                   values (%s, 'export_missing', %s, false, 'high', 'no export', %s)""",
                [(D, code, Jsonb({"export_day": D.isoformat()})) for code, _, _ in agencies])
        with pytest.raises(AlertError) as raised:
            deliver(conn, settings, compose_messages(conn, settings, D))
        # the task fails naming the two recipients it could not reach, and only them
        assert "2 of 5 alert e-mail(s) not sent" in str(raised.value)
        assert "'admin@mojokertokab.example' (35.16)" in str(raised.value) and "550" in str(raised.value)
        assert "'admin@sumenepkab.example\\r\\nBcc: all@evil.example' (35.29)" in str(raised.value)
        assert "admin@blitarkab.example" not in str(raised.value)
        # every other message arrived, the digest naming the agencies whose mail failed too
        received = {tuple(rcpts): message for rcpts, message in server.messages}
        assert set(received) == {(settings.coordinator_email,), ("admin@blitarkab.example",),
                                 ("admin@blitarkota.example",)}
        digest = received[(settings.coordinator_email,)]
        assert "Kabupaten Mojokerto (35.16)" in text_part(digest)
        assert all("evil" not in str(m) for m in received.values())
        # the coordinator can query what failed and why
        failed = conn.execute("select run_date, recipient, agency_code, subject, error from quality.alerts_failed "
                              "order by agency_code").fetchall()
        assert [(r[0], r[1], r[2]) for r in failed] == [
            (D, "admin@mojokertokab.example", "35.16"),
            (D, "admin@sumenepkab.example\r\nBcc: all@evil.example", "35.29")]
        assert "Kabupaten Mojokerto" in failed[0][3]
        assert "550" in failed[0][4] and "mailbox unavailable" in failed[0][4]
        assert "not one plain e-mail address" in failed[1][4]
        assert conn.execute("select count(*) from quality.alerts_sent where agency_code in ('35.16', '35.29')"
                            ).fetchone()[0] == 0

        # the retry, once Mojokerto's mailbox is back, sends Mojokerto's message and nothing twice
        # (what an agency was told is not composed again: the digest and the two failed messages)
        server.refused.clear()
        server.messages.clear()
        with pytest.raises(AlertError) as raised:
            deliver(conn, settings, compose_messages(conn, settings, D))
        assert "1 of 3 alert e-mail(s) not sent" in str(raised.value) and "35.29" in str(raised.value)
        assert [rcpts for rcpts, _ in server.messages] == [["admin@mojokertokab.example"]]

        # the address corrected in the warehouse: the last one goes out and the task is green
        conn.execute("update ref.agencies set admin_email = 'admin@sumenepkab.example', "
                     "agency_name = 'Kabupaten Sumenep' where agency_code = '35.29'")
        server.messages.clear()
        result = deliver(conn, settings, compose_messages(conn, settings, D))
        assert result["sent"] == ["admin@sumenepkab.example"] and result["already_sent"] == 1
        # the failures stay as history; none is left without a message of that night to that agency since
        assert conn.execute("select count(*) from quality.alerts_failed").fetchone()[0] == 3
        assert conn.execute(
            """select count(*) from quality.alerts_failed f where not exists
               (select 1 from quality.alerts_sent s where s.run_date = f.run_date
                and s.agency_code is not distinct from f.agency_code)""").fetchone()[0] == 0


# --- property: random outside text never becomes markup (e-mails and report) --------------------

SEED = 20210527
CASES = 80
PIECES = [
    "<img src=x onerror=alert(1)>", "<script>alert('x')</script>", "</td></tr></table></body>", '"', "'",
    '" onmouseover="alert(1)', "' autofocus onfocus='alert(1)", "&", "&amp;", "&lt;b&gt;", "&#60;i&#62;", "<!--",
    "-->", "<![CDATA[", "]]>", "\r\n", "\r", "\n", "\t", "\x0b", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u202e",
    "\u200f", "\u202a", "👍🏽", "🇮🇩", "👨‍👩‍👧", "{{ 7 * 7 }}", "{% if true %}", "{#", "${7*7}", "%s%n",
    "javascript:alert(1)", "<svg onload=alert(1)>", "<a href='//evil.example'>x</a>", "<style>*{display:none}</style>",
    "</title>", "</textarea>", "</svg>", "<b", ">", "<", "\\", "Kabupaten Blitar", "é", "ß", "ي", "עברית", "中文",
    " ", "  ", "=", "`", "\ufeff", "\u00a0"]
RANGES = [(0x01, 0x7f), (0x80, 0xff), (0x590, 0x6ff), (0x2000, 0x206f), (0x4e00, 0x4e40), (0x1f300, 0x1f64f),
          (0xfe00, 0xfe0f), (0xe000, 0xe010)]


def random_text(rng) -> str:
    parts = []
    for _ in range(rng.randint(1, 7)):
        if rng.random() < 0.7:
            parts.append(rng.choice(PIECES))
        else:
            low, high = rng.choice(RANGES)
            parts.append("".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 4))))
    text = "".join(parts)
    return text if text.strip() else text + "x"   # never blank: shown where a blank would be left out


class Structure(Parsed):
    """Parsed, plus the order of the start and end tags (the document's skeleton)."""

    def __init__(self, html: str):
        self.starts: list[str] = []
        self.ends: list[str] = []
        super().__init__(html)

    def handle_starttag(self, tag, attrs):
        self.starts.append(tag)
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        self.ends.append(tag)


FIELDS = ("agency_name", "other_name", "sk_number", "file", "reason", "tracking_id", "title", "source_error",
          "details", "error_details", "suite", "expectation", "target")


@pytest.fixture(scope="module")
def small_night(scratch_module):
    """Two agencies through prepare, ingest and transform (real marts for the report)."""
    from lapor import pipeline

    settings, url, exports = scratch_module
    registry = exports.parent / "registry.csv"
    registry.parent.mkdir(parents=True, exist_ok=True)
    registry.write_text(
        "agency_code,agency_name,agency_type,sk_number,sk_date,admin_email,source,source_url\n"
        "35.05,Kabupaten Blitar,kabupaten,188/1/2020,2020-02-01,admin@blitarkab.example,folder,\n"
        "35.16,Kabupaten Mojokerto,kabupaten,188/2/2020,2020-02-01,admin@mojokertokab.example,folder,\n")
    settings = dataclasses.replace(settings, registry_path=registry)
    header = "ID Laporan,Status,Tanggal Laporan,Tanggal Disposisi,Tanggal Tindak Lanjut,Tanggal Selesai,Judul,Klasifikasi\n"
    exports_by_code = {
        "35.05": header + "3000001,Selesai,10/03/2021 08:00,11/03/2021,12/03/2021,20/03/2021,Lampu mati,Pengaduan\n"
                          "3000002,Belum Ditindaklanjuti,07/05/2021 09:00,10/05/2021,,,Jalan rusak,Pengaduan\n",
        "35.16": header + "3000011,Selesai,15/03/2021,16/03/2021,17/03/2021,25/03/2021,Sampah,Aspirasi\n",
    }
    for code, body in exports_by_code.items():
        path = exports / code / "complaints" / f"{D.isoformat()}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    pipeline.prepare(D, settings)
    for code in exports_by_code:
        pipeline.ingest_agency(D, code, exports, settings=settings)
    assert pipeline.transform(D, settings)["success"]
    return settings, url


def put_values(conn: psycopg.Connection, values: dict[str, str]) -> None:
    """The night's outside values replaced by `values`: both agencies' names (registry and mart),
    the SK number, and every finding of 35.05 with the fields an agency's file or a reason fills."""
    conn.execute("update ref.agencies set agency_name = %s, sk_number = %s, sk_date = '2021-06-01' "
                 "where agency_code = '35.05'", (values["agency_name"], values["sk_number"]))
    conn.execute("update ref.agencies set agency_name = %s where agency_code = '35.16'", (values["other_name"],))
    conn.execute("update marts.dim_agency set agency_name = %s, sk_number = %s where agency_code = '35.05'",
                 (values["agency_name"], values["sk_number"]))
    conn.execute("update marts.dim_agency set agency_name = %s where agency_code = '35.16'", (values["other_name"],))
    for table in ("quality.check_results", "quality.suite_results"):
        conn.execute(f"delete from {table}")
    v = values
    facts = {
        "export_unreadable": {"file": v["file"], "reason_code": "missing_columns", "reason": v["reason"]},
        "export_missing": {"export_day": D.isoformat(), "source_error": v["source_error"]},
        "followup_report_missing": {"months": [{"period": "2021-04-01", "label": "April 2021",
                                                "due_date": "2021-05-07"}]},
        "followup_report_late": {"months": [{"period": "2021-03-01", "label": "Maret 2021",
                                             "due_date": "2021-04-07", "submitted_on": D.isoformat(),
                                             "working_days_late": 3}]},
        "followup_overdue": {"count": 2, "limit": 5, "oldest": {"tracking_id": v["tracking_id"], "working_days": 9},
                             "cases": [{"tracking_id": v["tracking_id"], "dispositioned_on": "2021-05-10",
                                        "working_days": 9, "working_days_late": 4, "title": v["title"]},
                                       {"tracking_id": "3000002", "dispositioned_on": "2021-05-11",
                                        "working_days": 8, "working_days_late": 3, "title": v["title"]}]},
        "sk_missing": {"sk_number": v["sk_number"], "sk_date": "2021-06-01"},
        "some_future_check": {},                # a check the templates do not know: its details are shown
    }
    severity = {"export_unreadable": "high", "export_missing": "high", "followup_report_missing": "high",
                "followup_report_late": "medium", "followup_overdue": "medium", "sk_missing": "low",
                "some_future_check": "low"}
    rows = [(D, check, "35.05", False, severity[check], f"{v['details']} ({check})", Jsonb(f))
            for check, f in facts.items()]
    rows += [(D, "export_missing", "35.16", False, "high", v["details"], Jsonb(facts["export_missing"])),
             (D, "some_check", "35.05", False, "error", v["error_details"], Jsonb({})),
             (D - timedelta(days=1), "resolved_check", "35.16", False, "medium", v["details"], Jsonb({})),
             (D, "resolved_check", "35.16", True, "medium", "", Jsonb({}))]
    with conn.cursor() as cur:
        cur.executemany(
            """insert into quality.check_results (run_date, check_name, agency_code, passed, severity, details, facts)
               values (%s, %s, %s, %s, %s, %s, %s)""", rows)
    conn.execute("""insert into quality.suite_results (run_date, suite, expectation, target, success, result)
                    values (%s, %s, %s, %s, false, '{}')""", (D, v["suite"], v["expectation"], v["target"]))


def render_all(conn: psycopg.Connection, settings, values: dict[str, str]) -> dict[str, str]:
    """Every HTML part a user opens: the digest and the agency messages as composed and as they
    travel (MIME, parsed back), and every page `write_report` writes."""
    from lapor.alerts import compose_messages
    from lapor.alerts.send import to_email
    from lapor.alerts.chart import key_chart
    from lapor.report import write_report

    put_values(conn, values)
    conn.execute("delete from quality.alert_findings")
    messages = compose_messages(conn, settings, D, report_url="file:///srv/laporan-2021-05-27.html",
                                key_chart=key_chart(conn, D))
    parts = {}
    for message in messages:
        name = message.agency_code or "digest"
        parts[f"mail:{name}"] = message.html
        sent = message_from_bytes(bytes(to_email(message, settings.mail_from)), policy=policy.default)
        parts[f"wire:{name}"] = html_part(sent)
        subject = sent["Subject"]
        assert "\n" not in subject and "\r" not in subject
    overview = write_report(conn, settings, D)
    for page in [overview, *sorted((overview.parent / D.isoformat()).glob("agency-*.html"))]:
        parts[f"report:{page.name}"] = page.read_bytes().decode("utf-8")   # as written: no newline translation
    return parts


def test_random_outside_text_never_becomes_an_element_or_attribute(small_night, tmp_path):
    """Property: with random text (markup, quotes, CR/LF, RTL marks, emoji, C0/C1 controls but
    NUL) in every field that comes from outside, every HTML part of the e-mails and every page
    of the report parses to exactly the skeleton it has with harmless text, and shows the text."""
    import random

    settings, url = small_night
    settings = dataclasses.replace(settings, home=tmp_path / "home")
    harmless = {f: f"aman {f}" for f in FIELDS}
    with psycopg.connect(url) as conn:
        baseline = {name: Structure(html) for name, html in render_all(conn, settings, harmless).items()}
        conn.rollback()
        assert {"mail:digest", "mail:35.05", "mail:35.16", "wire:digest", "report:laporan-2021-05-27.html",
                "report:agency-35_05.html", "report:agency-35_16.html"} <= set(baseline)
        assert all("aman agency_name" in baseline[p].text for p in baseline if "35_16" not in p and "35.16" not in p)
        rng = random.Random(SEED)
        for case in range(CASES):
            values = {f: random_text(rng) for f in FIELDS}
            parts = render_all(conn, settings, values)
            conn.rollback()
            assert set(parts) == set(baseline)
            for name, html in parts.items():
                parsed, expected = Structure(html), baseline[name]
                context = f"case {case} (seed {SEED}), {name}, values {values!r}"
                assert parsed.tags <= expected.tags, f"{context}: new elements {parsed.tags - expected.tags}"
                assert parsed.attrs <= expected.attrs, f"{context}: new attributes {parsed.attrs - expected.attrs}"
                assert parsed.starts == expected.starts and parsed.ends == expected.ends, f"{context}: skeleton changed"
            # and the text is shown as it is, where it belongs
            for part, fields in {
                "mail:digest": ("agency_name", "other_name", "sk_number", "file", "reason", "tracking_id",
                                "details", "error_details", "suite", "expectation", "target"),
                "mail:35.05": ("agency_name", "sk_number", "file", "reason", "tracking_id", "title", "details"),
                "mail:35.16": ("other_name",),
                "report:agency-35_05.html": ("agency_name", "other_name", "file", "reason", "tracking_id"),
                "report:laporan-2021-05-27.html": ("agency_name", "other_name", "tracking_id"),
            }.items():
                text = Structure(parts[part]).text
                for field in fields:
                    assert values[field] in text, f"case {case}: {field} {values[field]!r} not shown in {part}"
