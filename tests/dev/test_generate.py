"""The demo drop folder: the same bytes every time, and the seed scenario of docs/domain.md.

The files are read back loosely here (any delimiter, encoding, header alias, date format),
the way an agency's files arrive, so the tests check what lands in the drop folder rather
than the generator's internals.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from lapor.dev.generate import DEMO_END, DEMO_START, generate_sample_exports

SCALE = 0.2
EXPORT_DAYS = [date(2021, 5, 24), date(2021, 5, 25), date(2021, 5, 27), date(2021, 5, 28), date(2021, 5, 31)]
BLITAR, MOJOKERTO, SUMENEP, BATU, SURABAYA, SIDOARJO = "35.05", "35.16", "35.29", "35.79", "35.78", "35.15"
SILENT_FROM = date(2021, 5, 21)

TRACKING = {"idlaporan", "trackingid", "notracking", "nomorlaporan"}
STATUS = {"status", "statuslaporan"}
SUBMITTED = {"tanggallaporan", "tanggalmasuk", "tanggallaporanmasuk", "tgllaporan"}
DISPOSITIONED = {"tanggaldisposisi", "tanggalverifikasi"}
FIRST_FOLLOWUP = {"tanggaltindaklanjut", "tanggaltindaklanjutpertama", "tgltl"}
CLOSED = {"tanggalselesai", "tanggalditutup", "tanggallaporanditutup"}
OPEN_TEXTS = {"belum terverifikasi", "belum ditindaklanjuti", "terdisposisi belum ditindaklanjuti", "proses",
              "sedang diproses", "dalam proses", "terdisposisi sedang diproses", "tertunda",
              "laporan tertunda", "ditunda"}
CLOSED_TEXTS = {"selesai", "terdisposisi selesai", "diarsipkan", "arsip", "laporan arsip"}
MONTHS = {m: i for i, m in enumerate(["januari", "februari", "maret", "april", "mei", "juni", "juli", "agustus",
                                      "september", "oktober", "november", "desember"], start=1)}
TIME = r"(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?"
ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})" + TIME)
DMY = re.compile(r"(\d{2})[/-](\d{2})[/-](\d{4})" + TIME)
INDO = re.compile(r"(\d{1,2}) ([A-Za-z]+) (\d{4})" + TIME)


# --- reading the files back, loosely -------------------------------------------------------
def norm(header: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(header).lower())


def parse_datetime(value: object) -> datetime | None:
    """A date in any of the contract's formats, or None when the value is not a date."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern, order in ((ISO, (0, 1, 2)), (DMY, (2, 1, 0))):
        m = pattern.fullmatch(text)
        if m:
            y, mo, d = (int(m.group(i + 1)) for i in order)
            return datetime(y, mo, d, int(m.group(4) or 0), int(m.group(5) or 0))
    m = INDO.fullmatch(text)
    if m and m.group(2).lower() in MONTHS:
        return datetime(int(m.group(3)), MONTHS[m.group(2).lower()], int(m.group(1)),
                        int(m.group(4) or 0), int(m.group(5) or 0))
    return None


def read_rows(path: Path) -> list[dict[str, object]]:
    """The file's records with normalized header names."""
    if path.suffix == ".json":
        payload = json.loads(path.read_text(encoding="utf-8"))
        records = payload["data"] if isinstance(payload, dict) else payload
        return [{norm(k): v for k, v in r.items()} for r in records]
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            rows = list(wb.worksheets[0].iter_rows(values_only=True))
        finally:
            wb.close()
        start = next(i for i, r in enumerate(rows) if r and norm(r[0]) in TRACKING)
        header = [norm(h) for h in rows[start]]
        return [dict(zip(header, r)) for r in rows[start + 1:]]
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        text = raw.decode("utf-8-sig")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [norm(h) for h in next(reader)]
    return [dict(zip(header, r)) for r in reader]


def pick(row: dict[str, object], names: set[str]) -> object:
    for key, value in row.items():
        if key in names:
            return value
    return None


def tracking_id(row: dict[str, object]) -> str:
    return str(pick(row, TRACKING))


def complaint_files(root: Path) -> list[tuple[str, date, Path]]:
    return sorted((p.parent.parent.name, date.fromisoformat(p.stem), p) for p in root.glob("*/complaints/*.*"))


def followup_files(root: Path, code: str) -> dict[str, list[date]]:
    months: dict[str, list[date]] = {}
    for p in sorted((root / code / "followup").iterdir()):
        period, submitted = p.stem.split("_")
        months.setdefault(period, []).append(date.fromisoformat(submitted))
    return months


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("exports")
    return out, generate_sample_exports(out, scale=SCALE)


@pytest.fixture(scope="module")
def exports(demo) -> dict[tuple[str, date], tuple[Path, list[dict[str, object]]]]:
    """Every complaints export, read once: (agency, day) -> (file, rows)."""
    return {(code, day): (path, read_rows(path)) for code, day, path in complaint_files(demo[0])}


@pytest.fixture(scope="module")
def agencies(demo) -> list[str]:
    return sorted(p.name for p in demo[0].iterdir() if p.is_dir())


# --- determinism ---------------------------------------------------------------------------
def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_arguments_write_the_same_bytes(demo, tmp_path):
    out, summary = demo
    again = generate_sample_exports(tmp_path / "again", scale=SCALE)
    assert digests(tmp_path / "again") == digests(out)
    assert again == {**summary, "out_dir": str(tmp_path / "again")}


def test_generating_over_an_existing_folder_changes_nothing(demo):
    out, summary = demo
    before = digests(out)
    again = generate_sample_exports(out, scale=SCALE)
    assert again["files"]["written"] == 0
    assert again["files"]["unchanged"] == summary["files"]["total"] == len(before)
    assert digests(out) == before


# --- the seed scenario: follow-up reports --------------------------------------------------
def test_all_38_agencies_deliver(agencies, demo):
    assert len(agencies) == 38
    assert sorted(demo[1]["complaints"]) == agencies


def test_kabupaten_blitar_submits_its_april_2021_report_only_on_31_may(demo, tmp_path):
    months = followup_files(demo[0], BLITAR)
    assert months["2021-04"] == [date(2021, 5, 31)]
    assert {"agency_code": BLITAR, "period": "2021-04", "submitted_on": "2021-05-31"}.items() <= next(
        e for e in demo[1]["exceptions"] if e["kind"] == "followup_report_missing").items()
    # a drop folder that ends before 31 May has no April report of Blitar at all
    generate_sample_exports(tmp_path, scale=0.05, start=date(2021, 5, 27), end=date(2021, 5, 28))
    assert "2021-04" not in followup_files(tmp_path, BLITAR)


def test_kabupaten_mojokerto_submits_april_2021_late_on_25_may(demo):
    assert followup_files(demo[0], MOJOKERTO)["2021-04"] == [date(2021, 5, 25)]


def test_every_other_agency_submits_april_2021_on_time(demo, agencies):
    for code in agencies:
        if code in (BLITAR, MOJOKERTO):
            continue  # late: on 31 and 25 May
        submitted = followup_files(demo[0], code)["2021-04"]
        assert len(submitted) == 1 and submitted[0] <= date(2021, 5, 7), (code, submitted)


def test_every_agency_has_every_month_from_2020_01_to_2021_03_before_the_demo(demo, agencies):
    expected = [f"{y}-{m:02d}" for y in (2020, 2021) for m in range(1, 13) if (y, m) <= (2021, 3)]
    for code in agencies:
        months = followup_files(demo[0], code)
        assert [p for p in months if p <= "2021-03"] == expected, code
        assert all(s < DEMO_START for p in expected for s in months[p]), code
        assert "2021-05" not in months, code


def test_a_report_with_no_rows_and_a_corrected_report_exist(demo):
    out = demo[0]
    empty = [p for p in out.glob("*/followup/*.*") if not read_rows(p)]
    assert empty, "no agency sent a header-only report"
    resent = [(code, period) for code in demo[1]["complaints"]
              for period, days in followup_files(out, code).items() if len(days) > 1]
    assert resent and all(period.startswith("2020-") for _, period in resent)


def test_followup_rows_are_posted_in_their_month(demo):
    out = demo[0]
    for path in sorted(out.glob("*/followup/*.*"))[::7]:
        period = path.stem.split("_")[0]
        for row in read_rows(path):
            assert parse_datetime(pick(row, {"tanggaltindaklanjut"})).strftime("%Y-%m") == period, path


# --- the nightly exports -------------------------------------------------------------------
def test_exports_only_on_working_days_and_none_on_waisak(demo):
    days = {day for _, day, _ in complaint_files(demo[0])}
    assert sorted(days) == EXPORT_DAYS
    assert demo[1]["export_days"] == [d.isoformat() for d in EXPORT_DAYS]


def test_kabupaten_sumenep_sends_nothing_on_25_may(demo, agencies):
    held = {(code, day) for code, day, _ in complaint_files(demo[0])}
    for code in agencies:
        for day in EXPORT_DAYS:
            assert ((code, day) in held) == ((code, day) != (SUMENEP, date(2021, 5, 25))), (code, day)


def test_no_date_in_an_export_is_after_its_day_and_the_lifecycle_is_in_order(exports):
    for (code, day), (path, rows) in exports.items():
        assert rows, path
        for row in rows:
            stamps = {k: parse_datetime(v) for k, v in row.items()}
            assert stamps[next(k for k in row if k in SUBMITTED)] is not None, (path, row)
            late = {k: v for k, v in stamps.items() if v is not None and v.date() > day}
            assert not late, (path, tracking_id(row), late)
            chain = [pick(stamps, names) for names in (SUBMITTED, DISPOSITIONED, FIRST_FOLLOWUP, CLOSED)]
            chain = [c for c in chain if c is not None]
            assert chain == sorted(chain), (path, tracking_id(row), chain)


def test_a_full_export_holds_every_complaint_so_far_and_kota_batu_only_recent_ones(demo, exports):
    summary = demo[1]
    rows = {key: held for key, (_, held) in exports.items()}
    for (code, day), held in rows.items():
        if code == BATU and day > DEMO_START:
            assert 0 < len(held) < len(rows[(BATU, DEMO_START)]) / 3
        elif code == SIDOARJO:  # silent: every export is its state of 20 May
            assert len(held) == summary["complaints"][code]
            assert len(held) == summary["complaints"][code]


def test_tracking_ids_are_7_digit_text_unique_across_agencies(exports):
    owner: dict[str, str] = {}
    for (code, day), (path, rows) in exports.items():
        if day != DEMO_START:
            continue
        for row in rows:
            tid = tracking_id(row)
            assert re.fullmatch(r"\d{7}", tid), (path, tid)
            assert owner.setdefault(tid, code) == code, tid


def test_the_2020_backlog_is_still_open_in_the_last_export(exports):
    open_2020: Counter[str] = Counter()
    for (code, day), (path, rows) in exports.items():
        if day != DEMO_START:  # the day every agency sends a full export
            continue
        for row in rows:
            status = " ".join(str(pick(row, STATUS)).lower().split())
            assert status in OPEN_TEXTS | CLOSED_TEXTS, (path, status)
            submitted = parse_datetime(pick(row, SUBMITTED))
            if submitted.year == 2020 and status in OPEN_TEXTS:
                open_2020[code] += 1
    assert sum(open_2020.values()) > 0
    assert len(open_2020) >= 20
    assert len(set(open_2020.values())) > 3  # more for some agencies than for others


def test_kota_surabaya_has_the_most_complaints(exports):
    counts = {code: len(rows) for (code, day), (_, rows) in exports.items() if day == DEMO_START}
    assert max(counts, key=counts.get) == SURABAYA
    assert all(counts[SURABAYA] > n for code, n in counts.items() if code != SURABAYA)


def test_agencies_differ_in_format_delimiter_and_encoding(demo):
    out = demo[0]
    suffixes = Counter(p.suffix for _, _, p in complaint_files(out))
    assert suffixes[".csv"] > suffixes[".xlsx"] >= 4 * 3 and suffixes[".json"] >= 2 * 4
    assert (out / SURABAYA / "complaints" / "2021-05-24.xlsx").exists()
    heads = [p.read_bytes()[:200] for _, day, p in complaint_files(out) if day == DEMO_START and p.suffix == ".csv"]
    assert any(h.startswith(b"\xef\xbb\xbf") for h in heads)
    assert any(b";" in h.split(b"\n")[0] for h in heads)
    cp1252 = 0
    for _, day, path in complaint_files(out):
        if path.suffix == ".csv":
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                cp1252 += 1
    assert cp1252 >= 2


def test_a_small_scale_still_gives_every_agency_some_complaints(tmp_path):
    summary = generate_sample_exports(tmp_path, scale=0.05, start=DEMO_END, end=DEMO_END)
    assert min(summary["complaints"].values()) >= 10
    assert summary["export_days"] == [DEMO_END.isoformat()]


# --- the policy settings -------------------------------------------------------------------
def working_days_of(first: date, last: date, cuti_bersama_is_holiday: bool) -> list[date]:
    """lapor.calendar's working days (the calendar ref.calendar and dbt's dim_date are built from)."""
    from lapor.calendar import calendar_rows

    return [d for d, weekend, public, cuti, _ in calendar_rows(first, last)
            if not (weekend or public or (cuti and cuti_bersama_is_holiday))]


@pytest.mark.parametrize("due_day, cuti_is_holiday", [(5, True), (7, True), (5, False)])
def test_a_report_falls_due_on_the_working_day_the_settings_name(tmp_path, due_day, cuti_is_holiday):
    """Blitar's April 2021 report is due on the LAPOR_FOLLOWUP_DUE_WORKING_DAY-th working day of
    May 2021, counted on the calendar with cuti bersama a holiday or not, as the pipeline counts."""
    import dataclasses

    from lapor.settings import Settings

    settings = dataclasses.replace(Settings.from_env(), followup_due_working_day=due_day,
                                   cuti_bersama_is_holiday=cuti_is_holiday)
    summary = generate_sample_exports(tmp_path, scale=0.05, start=DEMO_END, end=DEMO_END, settings=settings)
    (missing,) = [e for e in summary["exceptions"] if e["kind"] == "followup_report_missing"]
    expected = working_days_of(date(2021, 5, 1), date(2021, 5, 31), cuti_is_holiday)[due_day - 1]
    assert (missing["agency_code"], missing["period"], missing["due_date"]) == (BLITAR, "2021-04", expected.isoformat())
    if (due_day, cuti_is_holiday) == (5, True):
        assert expected == date(2021, 5, 7)  # the README's 7 May 2021


def test_first_follow_ups_come_within_the_follow_up_limit_the_settings_name():
    """At a limit of 10 working days the agencies answer later than at 5, and about the same share
    (the slow ones) is past the limit either way."""
    from lapor.dev.generate import Policy, _plan, profile_for

    def delays(sla: int) -> list[int]:
        """Working days from disposition (always a working day) to the first follow-up."""
        plan = _plan(DEMO_END, Policy(5, sla, True))
        index = {day: i for i, day in enumerate(plan.national.days)}
        complaints = plan.simulate("35.07", profile_for("35.07"), 1500, 2021, scenario=True)
        return [index[c.followups[0].at.date()] - index[c.dispositioned_at.date()]
                for c in complaints if c.dispositioned_at and c.followups]

    at5, at10 = delays(5), delays(10)
    late = {sla: sum(d > sla for d in ds) / len(ds) for sla, ds in ((5, at5), (10, at10))}
    after5 = {sla: sum(d > 5 for d in ds) / len(ds) for sla, ds in ((5, at5), (10, at10))}
    assert 0.04 < late[5] < 0.2 and abs(late[10] - late[5]) < 0.04, late
    assert after5[10] > after5[5] + 0.2, after5


def test_kabupaten_sidoarjo_goes_silent_from_21_may_with_the_same_export_every_day(demo, exports):
    """No complaint submitted from 21 May, and the exports of 24-31 May are one and the same file."""
    files = {day: path for (code, day), (path, _) in exports.items() if code == SIDOARJO}
    assert sorted(files) == EXPORT_DAYS
    assert len({hashlib.sha256(path.read_bytes()).hexdigest() for path in files.values()}) == 1
    submitted = [parse_datetime(pick(row, SUBMITTED)).date() for row in exports[(SIDOARJO, DEMO_END)][1]]
    assert max(submitted) < SILENT_FROM
    assert {"agency_code": SIDOARJO, "kind": "silent", "date": SILENT_FROM.isoformat()}.items() <= next(
        e for e in demo[1]["exceptions"] if e["kind"] == "silent").items()


def test_most_agencies_follow_up_within_the_limit_and_three_are_chronically_late():
    """At the end of the demo, only the chronically late agencies have a dispositioned complaint
    waiting past the follow-up limit without a follow-up."""
    from lapor.dev.generate import Policy, _plan, profile_for

    plan = _plan(DEMO_END, Policy(5, 5, True))
    index = {day: i for i, day in enumerate(plan.national.days)}
    end = index[DEMO_END]
    late = set()
    for code in ["35.05", "35.07", "35.09", "35.15", "35.26", "35.73", "35.78"]:
        for c in plan.simulate(code, profile_for(code), profile_for(code).volume, 2021, scenario=True):
            if c.dispositioned_at is None or c.dispositioned_at.date() > DEMO_END:
                continue
            first = c.followups[0].at.date() if c.followups else None
            closed = c.closed_at.date() if c.closed_at else None
            waiting = (first is None or first > DEMO_END) and (closed is None or closed > DEMO_END)
            if waiting and end - index[c.dispositioned_at.date()] > 5:
                late.add(code)
    assert late == {"35.05", "35.09", "35.26"}
