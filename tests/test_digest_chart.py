"""The digest's backlog chart: a PNG that mail clients show (not inline SVG), drawn without a
browser, referenced by Content-ID from the HTML part, with a text alternative."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from email import message_from_bytes, policy

from PIL import Image

DAYS = [date(2021, 2, 26) + timedelta(days=i) for i in range(91)]


def series(start: int, step: int, known: int | None = None) -> list[int | None]:
    return [start + step * i if known is None or i < known else None for i in range(len(DAYS))]


def test_the_chart_is_a_png_of_the_announced_size_and_the_same_bytes_every_time():
    from lapor.alerts.chart import HEIGHT_PX, WIDTH_PX, backlog_chart

    chart = backlog_chart(DAYS, series(1200, 3), series(400, -1), 2021)
    image = Image.open(io.BytesIO(chart.png))
    image.verify()
    assert image.format == "PNG"
    assert image.size == (WIDTH_PX, HEIGHT_PX) == (chart.width, chart.height)
    assert backlog_chart(DAYS, series(1200, 3), series(400, -1), 2021).png == chart.png
    assert backlog_chart(DAYS, series(1200, 4), series(400, -1), 2021).png != chart.png
    assert chart.alt == ("Laporan SP4N-LAPOR! belum selesai di Jawa Timur, 26 Februari 2021 sampai 27 Mei 2021: "
                         "dari 1.200 menjadi 1.470; tunggakan dari sebelum 2021 dari 400 menjadi 310.")


def test_days_the_warehouse_does_not_know_yet_are_gaps_and_no_data_says_so():
    from lapor.alerts.chart import backlog_chart

    partial = backlog_chart(DAYS, series(10, 1, known=30), series(5, 0, known=30), 2021)
    Image.open(io.BytesIO(partial.png)).verify()
    assert "dari 10 menjadi 39" in partial.alt
    empty = backlog_chart(DAYS, [None] * len(DAYS), [None] * len(DAYS), 2021)
    Image.open(io.BytesIO(empty.png)).verify()
    assert empty.alt.endswith("belum ada data.")


def test_the_digest_carries_the_png_and_its_html_shows_it_by_content_id(settings):
    from lapor.alerts.chart import backlog_chart
    from lapor.alerts.compose import Message, render
    from lapor.alerts.send import to_email

    chart = backlog_chart(DAYS, series(1200, 3), series(400, -1), 2021)
    context = {"run_date": DAYS[-1], "agencies": [], "errors": [], "suite_failures": [], "input_warnings": [],
               "resolved": [], "report_url": None, "subject": "s", "key_chart": chart,
               "opened": [], "escalated": [], "open_findings": [], "open_agencies": 0}
    message = Message("digest", "koordinator@example.org", "[LAPOR! Jatim] Pemantauan", render("digest.txt.j2", context),
                      render("digest.html.j2", context), None, DAYS[-1], key="k" * 64, images=(chart,))
    sent = message_from_bytes(bytes(to_email(message, settings.mail_from)), policy=policy.default)
    assert sent.get_content_type() == "multipart/alternative"
    html_part = sent.get_body(("html",))
    html = html_part.get_content()
    assert "<svg" not in html
    cid = re.search(r'<img src="cid:([^"]+)" alt="([^"]+)" width="640" height="240"', html)
    assert cid and cid.group(2) == chart.alt
    related = [p for p in sent.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1
    images = [p for p in related[0].iter_parts() if p.get_content_type() == "image/png"]
    assert [p["Content-ID"] for p in images] == [f"<{cid.group(1)}>"]
    assert images[0].get_content() == chart.png
    assert f"Grafik tunggakan: {chart.alt}" in sent.get_body(("plain",)).get_content()


def test_a_subject_is_one_header_line_without_a_leading_space(settings):
    """Python's default folding put this 72-character subject on a continuation line of its own."""
    from lapor.alerts.compose import Message
    from lapor.alerts.send import to_email

    subject = "[LAPOR! Jatim] Pemantauan 27 Mei 2021: 38 instansi perlu ditindaklanjuti"
    message = Message("digest", "koordinator@example.org", subject, "teks", "<p>teks</p>", None, DAYS[-1],
                      key="k" * 64)
    raw = bytes(to_email(message, settings.mail_from))
    assert f"\nSubject: {subject}\n".encode() in raw
    assert message_from_bytes(raw)["Subject"] == subject      # also for a parser that does not unfold
