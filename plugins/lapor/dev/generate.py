"""The one generator of sample drop folders: what the agencies would send the coordinator.

It writes at a scale: the demo's seed scenario (`generate_sample_exports`: the 38 agencies
of Jawa Timur with their habits, `scale` multiplying their volumes) or one of the
benchmark's sizes (`generate` with a `Scale` of `SCALES`: tiny, small, jatim, national).
Both simulate complaints, render rows and write files with the same code below; the
benchmark's agencies all write the plain CSV habit, and only the demo has the planned
exceptions and the follow-up reports.

The scenario (docs/domain.md, "The seed scenario") is the week of the seed article, 24–28 May 2021,
and the Monday after it, 31 May:

- Every agency holds a complaint history from 1 January 2020. Complaints move through
  their lifecycle on the working-day calendar of `lapor.calendar` (the one `ref.calendar`
  is built from, with cuti bersama a holiday or not as `LAPOR_CUTI_BERSAMA_IS_HOLIDAY`
  says): verification and disposition within about 3 working days, a first follow-up
  usually within the follow-up limit (`LAPOR_FOLLOWUP_SLA_WORKING_DAYS`; a minority later
  before the governor's disposition of 22 April 2021, and after it only at the three chronically
  late agencies, 35.05, 35.09 and 35.26, which also leave some complaints without a follow-up),
  then completion (mostly) or archiving. Some
  complaints are postponed at verification. A share of the 2020 complaints is still open
  at the end (the 2020 backlog the governor asked to clear), more for some agencies.
- Nightly exports (`<code>/complaints/<D>.<ext>`) for each working day from `start` to
  `end`; 26 May 2021 is Waisak, so none that day. Each holds every complaint the agency
  has by the end of D with its state as of D, and no timestamp after D. Two planned
  exceptions: Kabupaten Sumenep (35.29) sends nothing on 25 May 2021, and Kota Batu
  (35.79) sends only what was created or changed in the last 7 days on days after `start`.
  Kabupaten Sidoarjo (35.15) goes silent: it enters no complaint from 21 May 2021, and its
  exports from then on are the same file, its state of 20 May (`volume_anomaly`, `stale_export`).
- Monthly follow-up reports (`<code>/followup/<M>_<S>.<ext>`) for every month from
  2020-01 that has ended, due on the working day of the next month that
  `LAPOR_FOLLOWUP_DUE_WORKING_DAY` names (the 5th by default). Kabupaten Blitar
  (35.05) sends April 2021 only on 31 May 2021 (the only `followup_report_missing` on 27 May 2021);
  Kabupaten Mojokerto (35.16) sends it late, on 25 May 2021; everyone else on time. A few
  agencies were late now and then in 2020; Kota Mojokerto's desk was closed in May 2020,
  so its report for that month has no rows; Kabupaten Pasuruan re-sent a corrected
  September 2020 report.
- Agencies differ in habits, fixed per agency: CSV with `,` or `;`, UTF-8, UTF-8 with BOM
  or Windows-1252; XLSX with title rows (Kota Surabaya and three others); JSON (two);
  header aliases and case, date formats, boolean spellings and status texts as the
  contract allows. No row is deliberately broken: the demo comes out clean.

Same arguments and policy settings, same bytes: every random choice comes from
`random.Random` streams seeded by (`seed`, agency, purpose), and XLSX files get fixed
document and zip timestamps.
"""
from __future__ import annotations

import bisect
import csv
import functools
import io
import json
import os
import random
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from lapor import vocabulary
from lapor.calendar import calendar_rows
from lapor.registry import Agency, load_registry
from lapor.settings import DEFAULT_REGISTRY, Settings

DEMO_START = date(2021, 5, 24)
DEMO_END = date(2021, 5, 31)
HISTORY_START = date(2020, 1, 1)
MIN_COMPLAINTS = 12

# The seed scenario and the other planned exceptions.
# Kabupaten Blitar's April 2021 report is missing on 27 May (the seed scenario) and arrives on 31 May
MISSING_REPORT = ("35.05", date(2021, 4, 1), date(2021, 5, 31))
LATE_REPORT = ("35.16", date(2021, 4, 1), date(2021, 5, 25))  # Kabupaten Mojokerto, late
SKIPPED_EXPORT = ("35.29", date(2021, 5, 25))  # Kabupaten Sumenep: no export that day
INCREMENTAL_EXPORT = "35.79"  # Kota Batu: only recent changes after the first day
INCREMENTAL_DAYS = 7
QUIET_MONTH = ("35.76", date(2020, 5, 1))  # Kota Mojokerto: desk closed, report with no rows
RESUBMITTED_REPORT = ("35.14", date(2020, 9, 1))  # Kabupaten Pasuruan: corrected report
# Kabupaten Sidoarjo stops entering complaints from this day: its exports keep arriving, the same
# as on the day before it (volume_anomaly, stale_export)
SILENT_AGENCY = ("35.15", date(2021, 5, 21))
# The governor's disposition of 22 April 2021 (docs/domain.md): from then on the agencies follow up
# within the limit, but for the few chronically late ones (Profile.chronic_late)
PROMPT_FROM = date(2021, 4, 22)

_ZIP_TIME = (2021, 1, 1, 0, 0, 0)
_MONTHS_ID = ["", "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
              "September", "Oktober", "November", "Desember"]


# --------------------------------------------------------------------------------------
# Working days
# --------------------------------------------------------------------------------------
class WorkingDays:
    """The working days of `lapor.calendar` (Mon–Fri minus public holidays, minus cuti bersama
    when the policy makes it a holiday), minus any extra closed days of one agency."""

    def __init__(self, first: date, last: date, closed: frozenset[date] = frozenset(), *,
                 cuti_bersama_is_holiday: bool):
        self.days = [day for day, weekend, public, cuti, _ in calendar_rows(first, last)
                     if not (weekend or public or (cuti and cuti_bersama_is_holiday)) and day not in closed]
        self._set = frozenset(self.days)

    def is_working(self, day: date) -> bool:
        return day in self._set

    def after(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day` (n >= 1)."""
        return self.days[bisect.bisect_right(self.days, day) + n - 1]

    def nth_of_month(self, year: int, month: int, n: int) -> date:
        return self.days[bisect.bisect_left(self.days, date(year, month, 1)) + n - 1]

    def between(self, first: date, last: date) -> list[date]:
        return self.days[bisect.bisect_left(self.days, first):bisect.bisect_right(self.days, last)]


def followup_due_date(cal: WorkingDays, period: date, due_working_day: int) -> date:
    """Month M's report is due on the `due_working_day`-th working day of month M+1."""
    nxt = _next_month(period)
    return cal.nth_of_month(nxt.year, nxt.month, due_working_day)


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


# --------------------------------------------------------------------------------------
# Agency habits
# --------------------------------------------------------------------------------------
FIELDS = ["tracking_id", "agency_code", "submitted_at", "title", "content", "category", "classification",
          "is_supervisory", "channel", "status", "dispositioned_at", "first_followup_at", "closed_at",
          "last_activity_at", "is_confidential", "is_anonymous", "reporter_name", "reporter_phone",
          "reporter_email", "extra"]

HEADER_DIALECTS = {
    "A": ["ID Laporan", "Kode Instansi", "Tanggal Laporan", "Judul Laporan", "Isi Laporan", "Kategori",
          "Klasifikasi", "Berkadar Pengawasan", "Sumber", "Status Laporan", "Tanggal Disposisi",
          "Tanggal Tindak Lanjut Pertama", "Tanggal Selesai", "Tanggal Aktivitas Terakhir", "Rahasia",
          "Anonim", "Nama Pelapor", "No HP Pelapor", "Email Pelapor"],
    "B": ["Nomor Laporan", "Kode Wilayah", "Tgl Laporan", "Judul", "Isi", "Kategori", "Klasifikasi",
          "Berkadar Pengawasan", "Kanal", "Status", "Tanggal Verifikasi", "Tgl TL", "Tanggal Ditutup",
          "Tanggal Aktivitas Terakhir", "Rahasia", "Anonim", "Pelapor", "No HP", "Email Pelapor"],
    "C": ["No Tracking", "Kode Instansi", "Tanggal Masuk", "Judul Laporan", "Isi Laporan", "Kategori",
          "Klasifikasi", "Berkadar Pengawasan", "Sumber Laporan", "Status Laporan", "Tanggal Disposisi",
          "Tanggal Tindak Lanjut", "Tanggal Laporan Ditutup", "Tanggal Aktivitas Terakhir", "Rahasia",
          "Anonim", "Nama Pelapor", "Telepon Pelapor", "Email Pelapor"],
    "D": ["Tracking ID", "Kode Instansi", "Tanggal Laporan Masuk", "Judul", "Isi Laporan", "Kategori",
          "Klasifikasi", "Berkadar Pengawasan", "Kanal", "Status", "Tanggal Verifikasi",
          "Tanggal Tindak Lanjut Pertama", "Tanggal Selesai", "Tanggal Aktivitas Terakhir", "Rahasia",
          "Anonim", "Pelapor", "Telepon Pelapor", "Email Pelapor"],
}
FOLLOWUP_DIALECTS = {
    "A": ["ID Laporan", "Tanggal Tindak Lanjut", "Uraian Tindak Lanjut", "Status", "Petugas"],
    "B": ["Nomor Laporan", "Tanggal Tindak Lanjut", "Tindak Lanjut", "Status Akhir", "Nama Petugas"],
    "C": ["No Tracking", "Tanggal Tindak Lanjut", "Uraian Tindak Lanjut", "Status Akhir", "Petugas"],
    "D": ["Tracking ID", "Tanggal Tindak Lanjut", "Uraian Tindak Lanjut", "Status", "Nama Petugas"],
}
# How an agency writes the statuses (its habit): LAPOR!'s label of each status, or the export
# text it prefers. The statuses and their texts are the vocabulary seeds' (lapor.vocabulary).
STATUS_HABITS = {
    "plain": (),
    "terdisposisi": ("Terdisposisi Belum Ditindaklanjuti", "Terdisposisi Sedang Diproses", "Terdisposisi Selesai",
                     "Laporan Tertunda", "Laporan Arsip"),
    "sedang": ("Sedang Diproses", "Ditunda", "Arsip"),
    "dalam": ("Dalam Proses",),
}


def _status_texts(prefer: tuple[str, ...]) -> dict[str, str]:
    words = vocabulary.current()
    known = {text for texts in words.status_texts.values() for text in texts}
    if not set(prefer) <= known:
        raise vocabulary.VocabularyError(f"not a status text of the seeds: {sorted(set(prefer) - known)}")
    return {s.code: next((t for t in words.status_texts[s.code] if t in prefer), s.label) for s in words.statuses}


STATUS_TEXTS = {habit: _status_texts(prefer) for habit, prefer in STATUS_HABITS.items()}
CLASSIFICATION_TEXTS = {c.code: c.label for c in vocabulary.current().classifications}


@dataclass(frozen=True)
class Profile:
    """How one agency writes its files, and how its complaint desk behaves."""
    volume: int = 400  # complaints from 2020-01 to 2021-05 at scale 1.0
    fmt: str = "csv"  # csv | xlsx | json
    delimiter: str = ","
    encoding: str = "utf-8"  # utf-8 | utf-8-sig | cp1252
    newline: str = "\r\n"
    quote_all: bool = False
    dialect: str = "A"
    header_case: str = "title"  # title | upper | lower | snake | camel
    date_style: str = "iso"  # iso | iso_t | dmy_slash | dmy_dash | indo
    bools: tuple[str, str] | str = ("Ya", "Tidak")  # or "json" for JSON true/false
    statuses: str = "plain"
    status_case: str = "as_is"  # as_is | upper | lower | spaced
    with_code: bool = False
    extra: str | None = None  # an unknown column
    omit: tuple[str, ...] = ()
    title_rows: int = 0  # XLSX
    numeric_id: bool = False  # XLSX number cell / JSON number
    json_wrapped: bool = False
    newest_first: bool = False
    backlog: float = 0.06  # share of 2020 complaints that never close
    slow_followup: float = 0.12  # share of first follow-ups after 6–15 working days (before PROMPT_FROM)
    chronic_late: bool = False  # slow after PROMPT_FROM too, and some complaints never followed up
    late_reports: float = 0.0  # share of 2020 follow-up reports sent late

    @property
    def ext(self) -> str:
        return self.fmt

    def describe(self) -> str:
        if self.fmt == "csv":
            return f"csv ({self.encoding}, '{self.delimiter}', {self.date_style} dates)"
        if self.fmt == "xlsx":
            return f"xlsx ({self.title_rows} title rows, date cells)"
        return f"json ({'object with data' if self.json_wrapped else 'array'}, {self.date_style} dates)"


P = Profile
PROFILES: dict[str, Profile] = {
    "35.01": P(volume=260, late_reports=0.25),
    "35.02": P(volume=480, dialect="B", date_style="dmy_slash", bools=("Y", "T")),
    "35.03": P(volume=300, header_case="lower", bools=("1", "0"), with_code=True),
    "35.04": P(volume=520, dialect="C", date_style="dmy_dash", statuses="terdisposisi"),
    "35.05": P(volume=560, fmt="xlsx", title_rows=2, backlog=0.22, slow_followup=0.30, late_reports=0.30,
               chronic_late=True),
    "35.06": P(volume=780, dialect="D", date_style="indo", with_code=True, statuses="sedang"),
    "35.07": P(volume=1750, delimiter=";", dialect="B", date_style="dmy_slash", statuses="terdisposisi",
               backlog=0.08),
    "35.08": P(volume=480, statuses="dalam"),
    "35.09": P(volume=1550, encoding="utf-8-sig", dialect="C", date_style="dmy_slash", status_case="upper",
               backlog=0.18, slow_followup=0.25, late_reports=0.15, chronic_late=True),
    "35.10": P(volume=860, header_case="snake", bools=("true", "false"), newline="\n"),
    "35.11": P(volume=340, dialect="B", date_style="indo", late_reports=0.10),
    "35.12": P(volume=330, encoding="cp1252", date_style="dmy_slash", status_case="spaced"),
    "35.13": P(volume=600, dialect="D", statuses="sedang", quote_all=True),
    "35.14": P(volume=840, date_style="dmy_dash", with_code=True),
    "35.15": P(volume=1700, delimiter=";", header_case="upper", date_style="dmy_slash",
               statuses="terdisposisi", extra="Kecamatan"),
    "35.16": P(volume=620, dialect="B", late_reports=0.10),
    "35.17": P(volume=600, dialect="C", date_style="indo", bools=("Y", "N")),
    "35.18": P(volume=540, date_style="dmy_slash", statuses="sedang", newest_first=True),
    "35.19": P(volume=400, encoding="cp1252", dialect="B", date_style="dmy_dash", status_case="lower"),
    "35.20": P(volume=380, encoding="utf-8-sig"),
    "35.21": P(volume=420, dialect="D", header_case="lower", date_style="dmy_slash",
               omit=("reporter_email", "last_activity_at")),
    "35.22": P(volume=660, fmt="json", header_case="camel", date_style="iso_t"),
    "35.23": P(volume=640, with_code=True, statuses="dalam"),
    "35.24": P(volume=700, delimiter=";", dialect="C", date_style="dmy_slash"),
    "35.25": P(volume=900, fmt="xlsx", dialect="B", title_rows=3, statuses="sedang"),
    "35.26": P(volume=380, date_style="indo", backlog=0.20, slow_followup=0.30, late_reports=0.30,
               chronic_late=True),
    "35.27": P(volume=360, encoding="cp1252", delimiter=";", dialect="B", date_style="dmy_slash",
               status_case="upper", backlog=0.15, late_reports=0.25),
    "35.28": P(volume=360, bools=("Y", "T")),
    "35.29": P(volume=400, dialect="D", date_style="dmy_dash", omit=("is_supervisory",)),
    "35.71": P(volume=420, fmt="xlsx", dialect="C", title_rows=2, statuses="terdisposisi"),
    "35.72": P(volume=200, backlog=0.03),
    "35.73": P(volume=1300, encoding="utf-8-sig", statuses="terdisposisi", backlog=0.04),
    "35.74": P(volume=260, fmt="json", dialect="D", header_case="snake", numeric_id=True, bools="json",
               json_wrapped=True),
    "35.75": P(volume=210, dialect="B", date_style="dmy_slash", statuses="sedang"),
    "35.76": P(volume=170),
    "35.77": P(volume=250, delimiter=";", date_style="indo"),
    "35.78": P(volume=4200, fmt="xlsx", title_rows=3, numeric_id=True, with_code=True,
               extra="Keterangan Internal", backlog=0.05, newest_first=True),
    "35.79": P(volume=300, dialect="B", backlog=0.04),
}


def profile_for(code: str) -> Profile:
    """The agency's habits: from the table, or (an agency not in it) derived from its code."""
    if code in PROFILES:
        return PROFILES[code]
    rng = random.Random(f"profile/{code}")
    return Profile(
        volume=rng.randrange(150, 900, 10),
        delimiter=rng.choice([",", ",", ";"]),
        dialect=rng.choice("ABCD"),
        date_style=rng.choice(["iso", "dmy_slash", "dmy_dash", "indo"]),
        bools=rng.choice([("Ya", "Tidak"), ("Y", "T"), ("1", "0")]),
        statuses=rng.choice(sorted(STATUS_TEXTS)),
        backlog=rng.choice([0.03, 0.06, 0.1]),
    )


def _header(name: str, case: str) -> str:
    if case == "upper":
        return name.upper()
    if case == "lower":
        return name.lower()
    if case == "snake":
        return name.lower().replace(" ", "_")
    if case == "camel":
        return name.replace(" ", "")
    return name


def _status_text(profile: Profile, status: str) -> str:
    text = STATUS_TEXTS[profile.statuses][status]
    if profile.status_case == "upper":
        return text.upper()
    if profile.status_case == "lower":
        return text.lower()
    if profile.status_case == "spaced":
        return "  ".join(text.split(" ")) + " "
    return text


def _date_text(value: datetime, style: str) -> str:
    if style == "iso_t":
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if style == "dmy_slash":
        return value.strftime("%d/%m/%Y %H:%M")
    if style == "dmy_dash":
        return value.strftime("%d-%m-%Y %H:%M:%S")
    if style == "indo":
        return f"{value.day} {_MONTHS_ID[value.month]} {value.year} {value:%H:%M}"
    return value.strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------------------
# Complaint content
# --------------------------------------------------------------------------------------
# (category, weight, handling OPD, [(title, body), ...])
CATEGORIES = [
    ("Infrastruktur", 24, "Dinas Pekerjaan Umum dan Penataan Ruang", [
        ("Jalan rusak dan berlubang di {jalan}",
         "Jalan di {jalan}, {desa}, rusak parah dan berlubang cukup dalam. Sudah beberapa pengendara motor "
         "terjatuh, terutama saat hujan dan malam hari."),
        ("Lampu penerangan jalan umum mati di {desa}",
         "Lampu PJU di sepanjang jalan utama {desa}, Kecamatan {kec}, mati sejak {n} minggu lalu sehingga "
         "rawan kecelakaan dan kejahatan."),
        ("Saluran drainase tersumbat di {jalan}",
         "Saluran air di {jalan} tersumbat sampah dan lumpur; setiap hujan deras air meluap ke jalan dan "
         "masuk ke rumah warga."),
        ("Jembatan penghubung di {desa} rusak",
         "Jembatan penghubung antar dusun di {desa}, Kecamatan {kec}, papan lantainya lapuk dan pagarnya "
         "patah. Anak-anak sekolah setiap hari melewati jembatan ini."),
        ("Perbaikan jalan di {jalan} tidak kunjung selesai",
         "Proyek perbaikan jalan di {jalan} sudah {n} bulan terbengkalai, material dibiarkan menumpuk di "
         "bahu jalan dan menyebabkan kemacetan."),
    ]),
    ("Kesehatan", 11, "Dinas Kesehatan", [
        ("Pelayanan Puskesmas {kec} lambat",
         "Antrean di Puskesmas {kec} sangat panjang, pasien menunggu lebih dari {n} jam dan petugas loket "
         "kurang ramah."),
        ("Obat di RSUD sering kosong",
         "Pasien BPJS di RSUD diminta membeli obat sendiri di apotek luar karena stok obat kosong."),
        ("Pengasapan (fogging) DBD belum dilakukan di {desa}",
         "Sudah ada {n} warga {desa} yang dirawat karena demam berdarah, tetapi belum ada fogging maupun "
         "pemberantasan sarang nyamuk dari petugas."),
        ("Jadwal vaksinasi COVID-19 di {kec} tidak jelas",
         "Warga lansia di Kecamatan {kec} belum mendapat informasi jadwal vaksinasi; pendaftaran daring "
         "sulit diakses."),
    ]),
    ("Pendidikan", 10, "Dinas Pendidikan", [
        ("Pungutan di SDN {desa} {n}",
         "Orang tua murid SDN {desa} {n} diminta membayar uang seragam dan buku yang cukup mahal, padahal "
         "sekolah sudah menerima dana BOS."),
        ("Kendala PPDB sistem zonasi",
         "Anak kami tidak diterima di sekolah terdekat meskipun rumah hanya berjarak {n}00 meter dari "
         "sekolah. Mohon penjelasan tentang perhitungan jarak zonasi."),
        ("Bantuan kuota internet belajar belum diterima",
         "Siswa di {desa} belum menerima bantuan kuota internet untuk pembelajaran jarak jauh, padahal "
         "nomor sudah didaftarkan oleh sekolah."),
        ("Honor guru tidak tetap terlambat dibayar",
         "Honor guru tidak tetap di Kecamatan {kec} belum dibayarkan selama {n} bulan."),
    ]),
    ("Administrasi Kependudukan", 14, "Dinas Kependudukan dan Pencatatan Sipil", [
        ("KTP elektronik belum jadi setelah {n} bulan",
         "Saya sudah melakukan perekaman KTP-el di Kecamatan {kec} sejak {n} bulan lalu, namun sampai "
         "sekarang KTP belum dicetak dengan alasan blanko habis."),
        ("Pengurusan akta kelahiran lama",
         "Pengajuan akta kelahiran anak kami melalui desa belum selesai, padahal berkas sudah lengkap."),
        ("Perubahan data Kartu Keluarga tidak diproses",
         "Permohonan perubahan data KK (status perkawinan dan pendidikan) di Dispendukcapil belum "
         "diproses; saat ditanyakan, petugas meminta datang lagi minggu depan."),
        ("Antrean layanan Dispendukcapil terlalu panjang",
         "Nomor antrean layanan tatap muka habis sebelum jam 08.00, warga dari {desa} harus datang "
         "berkali-kali."),
    ]),
    ("Bantuan Sosial", 14, "Dinas Sosial", [
        ("Bantuan Sosial Tunai belum diterima",
         "Keluarga kami terdaftar sebagai penerima BST tetapi sampai sekarang belum menerima bantuan, "
         "sementara tetangga yang mampu justru menerima."),
        ("Data penerima BLT Dana Desa {desa} tidak tepat sasaran",
         "Penerima BLT Dana Desa di {desa} banyak yang perangkat desa dan keluarganya; warga miskin yang "
         "terdampak COVID-19 tidak terdata."),
        ("Bantuan PKH dipotong oknum pendamping",
         "Bantuan PKH yang diterima ibu-ibu di {desa} dipotong Rp{n}0.000 oleh oknum dengan alasan "
         "biaya administrasi."),
        ("Paket sembako bansos tidak sesuai",
         "Isi paket sembako bansos yang diterima warga {desa} tidak sesuai daftar; berasnya berkutu."),
    ]),
    ("Lingkungan Hidup", 8, "Dinas Lingkungan Hidup", [
        ("Sampah menumpuk di TPS {desa}",
         "Sampah di TPS {desa} tidak diangkut selama {n} hari sehingga bau menyengat dan meluber ke jalan."),
        ("Pencemaran sungai oleh limbah pabrik",
         "Air sungai di sekitar {desa}, Kecamatan {kec}, berwarna hitam dan berbau; diduga dari limbah "
         "pabrik di hulu. Ikan banyak yang mati."),
        ("Pembakaran sampah mengganggu warga",
         "Ada warga yang membakar sampah plastik setiap sore di {jalan}; asapnya masuk ke rumah dan "
         "mengganggu pernapasan anak-anak."),
    ]),
    ("Ketertiban Umum", 8, "Satuan Polisi Pamong Praja", [
        ("PKL berjualan di trotoar {jalan}",
         "Pedagang kaki lima menutup trotoar di {jalan} sehingga pejalan kaki harus turun ke badan jalan."),
        ("Parkir liar di depan pertokoan {jalan}",
         "Juru parkir liar di {jalan} meminta tarif Rp{n}.000 dan kendaraan parkir dua lapis."),
        ("Tempat hiburan tetap buka saat pembatasan kegiatan",
         "Sebuah tempat karaoke di Kecamatan {kec} tetap buka sampai larut malam dan menimbulkan "
         "kerumunan selama masa pembatasan kegiatan masyarakat."),
        ("Balap liar setiap malam minggu",
         "Setiap malam minggu ada balap liar di {jalan}, sangat bising dan membahayakan pengguna jalan."),
    ]),
    ("Perhubungan", 5, "Dinas Perhubungan", [
        ("Lampu lalu lintas mati di simpang {jalan}",
         "Lampu lalu lintas di simpang {jalan} mati sejak {n} hari lalu, arus kendaraan semrawut."),
        ("Pungutan liar uji KIR",
         "Saat uji KIR kendaraan, kami dimintai uang tambahan di luar tarif resmi oleh oknum petugas."),
    ]),
    ("Perizinan", 3, "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu", [
        ("Pengurusan izin usaha berlarut-larut",
         "Permohonan izin usaha mikro yang kami ajukan melalui OSS sudah {n} minggu belum ada kepastian."),
        ("Biaya pengurusan PBG/IMB tidak transparan",
         "Kami diminta biaya pengurusan IMB yang tidak sesuai ketentuan dan tanpa kuitansi resmi."),
    ]),
    ("Air Bersih", 3, "Perumda Air Minum", [
        ("Air PDAM tidak mengalir di {desa}",
         "Sudah {n} hari air PDAM di {desa} tidak mengalir, tetapi tagihan tetap datang seperti biasa."),
    ]),
]
CHANNELS = ["Website", "Aplikasi Android", "SMS 1708", "Aplikasi iOS", "Twitter", "WhatsApp", "Instagram"]
CHANNEL_WEIGHTS = [30, 25, 12, 5, 8, 12, 8]
DESA = ["Sumberejo", "Sukorejo", "Karangrejo", "Tegalsari", "Kedungrejo", "Wonorejo", "Sidomulyo",
        "Tanjungsari", "Kebonsari", "Purwodadi", "Mojosari", "Ngadirejo", "Banjarsari", "Sumbersari",
        "Kalirejo", "Candirejo", "Gedangan", "Pandanwangi", "Tambakrejo", "Sidorejo"]
KECAMATAN = ["Kota", "Kepanjen", "Wates", "Sukodono", "Pakis", "Kedungkandang", "Gondang", "Kalipare",
             "Bangil", "Ngoro", "Tanggul", "Kraksaan", "Rogojampi", "Genteng", "Pare", "Babat"]
JALAN = ["Jl. Ahmad Yani", "Jl. Diponegoro", "Jl. Panglima Sudirman", "Jl. Pahlawan", "Jl. Gajah Mada",
         "Jl. Veteran", "Jl. Raya Desa", "Jl. Basuki Rahmat", "Jl. Imam Bonjol", "Jl. Hayam Wuruk",
         "Jl. Kartini", "Jl. Trunojoyo", "Jl. Merdeka", "Jl. Brawijaya"]
OPENINGS = ["", "", "Selamat siang. ", "Yth. Bapak/Ibu, ", "Assalamualaikum. ", "Mohon izin melapor. ",
            "Selamat pagi admin, "]
CLOSINGS = [" Mohon segera ditindaklanjuti. Terima kasih.", " Terima kasih atas perhatiannya.",
            "\nMohon tindak lanjutnya, terima kasih.", " Kami berharap ada tindakan nyata; warga sudah "
            "lama menunggu.", " Warga menyebutnya “jalan seribu lubang” – mohon perhatian.", "",
            "\n\nHormat saya,\nwarga setempat"]
FIRST_NAMES = ["Agus", "Budi", "Siti", "Sri", "Dwi", "Eko", "Rina", "Wahyu", "Nur", "Ahmad", "Muhammad",
               "Dewi", "Fitri", "Hadi", "Joko", "Kartini", "Lestari", "Moch.", "Rudi", "Slamet", "Suryani",
               "Teguh", "Titik", "Umi", "Yuli", "Zainal", "Bambang", "Hendra", "Indah", "Lia", "Imam",
               "Ratna", "Achmad", "Yoyok", "Ninik", "Sugeng", "Anik", "Bayu", "Citra", "Fauzan"]
LAST_NAMES = ["Santoso", "Wibowo", "Pratama", "Hidayat", "Susanto", "Rahayu", "Setiawan", "Purnomo",
              "Kurniawan", "Wahyuni", "Hartono", "Saputra", "Nugroho", "Maulana", "Fauzi", "Rahman",
              "Anwar", "Hasan", "Prasetyo", "Handayani", "Sulistyo", "Mustofa", "Ningsih", "Effendi"]
MAIL_DOMAINS = ["example.com", "example.net", "example.org"]
PHONE_PREFIXES = ["812", "813", "821", "822", "852", "853", "857", "877", "878", "881", "895", "896"]
FIRST_FOLLOWUPS = [
    "Laporan telah diterima dan diteruskan kepada {opd} untuk ditindaklanjuti.",
    "Terima kasih atas laporan Saudara. Laporan sedang ditangani oleh {opd}.",
    "{opd} akan melakukan pengecekan lapangan terkait laporan ini.",
]
PROGRESS_FOLLOWUPS = [
    "Petugas {opd} telah melakukan pengecekan lapangan; penanganan dijadwalkan dalam waktu dekat.",
    "Sedang dikoordinasikan dengan pemerintah desa/kelurahan setempat.",
    "Penanganan masih berlangsung, menunggu ketersediaan anggaran dan material.",
]
CLOSING_FOLLOWUPS = [
    "Permasalahan telah ditangani oleh {opd}. Laporan dinyatakan selesai.",
    "Tindak lanjut telah selesai dilaksanakan, dokumentasi terlampir. Terima kasih atas laporan Saudara.",
    "Penjelasan telah disampaikan kepada pelapor dan permasalahan dinyatakan selesai.",
]
INTERNAL_NOTES = ["", "", "", "Perlu koordinasi lintas OPD", "Sudah dikonfirmasi ke pelapor",
                  "Lokasi di luar kewenangan kelurahan", "Prioritas", "Menunggu anggaran perubahan"]


# --------------------------------------------------------------------------------------
# Complaints and their lifecycle
# --------------------------------------------------------------------------------------
@dataclass(slots=True)
class FollowUp:
    at: datetime
    text: str
    status: str  # in_progress | completed
    officer: str


@dataclass(slots=True)
class Complaint:
    seq: int
    agency_code: str
    submitted_at: datetime
    classification: str
    supervisory: bool
    category: str
    channel: str
    title: str
    content: str
    confidential: bool
    anonymous: bool
    name: str
    phone: str
    email: str
    extra: str
    dispositioned_at: datetime | None = None
    postponed_at: datetime | None = None
    followups: list[FollowUp] = field(default_factory=list)
    closed_at: datetime | None = None
    closed_status: str | None = None
    tracking_id: int = 0
    events: list[datetime] = field(default_factory=list)  # every timestamp, ascending
    event_days: list[date] = field(default_factory=list)

    def finish(self) -> None:
        stamps = [self.submitted_at, self.dispositioned_at, self.postponed_at,
                  *(f.at for f in self.followups), self.closed_at]
        self.events = sorted({s for s in stamps if s is not None})  # the closing follow-up is closed_at
        if len(self.events) != sum(s is not None for s in stamps) - (self.closed_status == "completed"):
            raise AssertionError(f"timestamps out of order or repeated: {self}")
        self.event_days = [s.date() for s in self.events]

    def known(self, day: date) -> int:
        """How many of its events had happened by the end of `day` (the state's key)."""
        return bisect.bisect_right(self.event_days, day)

    def status_on(self, day: date) -> str:
        if self.closed_at is not None and self.closed_at.date() <= day:
            return self.closed_status or "completed"
        if self.postponed_at is not None and self.postponed_at.date() <= day:
            return "postponed"
        if self.followups and self.followups[0].at.date() <= day:
            return "in_progress"
        if self.dispositioned_at is not None and self.dispositioned_at.date() <= day:
            return "awaiting_followup"
        return "unverified"


def _office_after(cal: WorkingDays, base: datetime, k: int, rng: random.Random) -> datetime:
    """An office-hours instant k working days after `base` (k = 0: later the same day if possible)."""
    day = base.date()
    if k == 0 and cal.is_working(day) and base.time() < time(14, 30):
        lo = max(base.hour * 60 + base.minute + 10, 7 * 60 + 30)
        minute = rng.randint(lo, 16 * 60 + 30)
        return datetime.combine(day, time(minute // 60, minute % 60))
    minute = rng.randint(7 * 60 + 30, 16 * 60)
    return datetime.combine(cal.after(day, max(k, 1)), time(minute // 60, minute % 60))


_HOUR_WEIGHTS = [1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 9, 10, 10, 9, 8, 8, 9, 10, 9, 7, 4, 2]


def _submission_days(national: WorkingDays, end: date) -> tuple[list[date], list[float]]:
    days, cum, total = [], [], 0.0
    span = (end - HISTORY_START).days or 1
    day = HISTORY_START
    while day <= end:
        weight = 1.0 if national.is_working(day) else 0.55
        weight *= 0.8 + 0.5 * (day - HISTORY_START).days / span
        if date(2020, 4, 1) <= day <= date(2020, 7, 31):  # PSBB months: bansos complaints
            weight *= 1.3
        total += weight
        days.append(day)
        cum.append(total)
        day += timedelta(days=1)
    return days, cum


def _person(rng: random.Random) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    name = f"{first} {last}" if rng.random() < 0.85 else first
    digits = rng.choice(PHONE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(rng.choice([7, 8, 8])))
    phone = ("+62" if rng.random() < 0.2 else "0") + digits
    local = name.lower().replace("moch.", "moch").replace(" ", rng.choice([".", "_", ""]))
    email = f"{local}{rng.randrange(100) if rng.random() < 0.5 else ''}@{rng.choice(MAIL_DOMAINS)}"
    return name, phone, email


def _simulate_agency(code: str, profile: Profile, n: int, seed: int, cal: WorkingDays,
                     days: list[date], cum: list[float], sla: int) -> list[Complaint]:
    rng = random.Random(f"{seed}/{code}/complaints")
    officer_rng = random.Random(f"{seed}/{code}/officers")
    officers = sorted({f"{officer_rng.choice(FIRST_NAMES)} {officer_rng.choice(LAST_NAMES)}" for _ in range(3)})
    picked = sorted(rng.choices(days, cum_weights=cum, k=n))
    complaints = []
    for seq, day in enumerate(picked):
        hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
        submitted = datetime.combine(day, time(hour, rng.randrange(60)))
        classification = rng.choices(["pengaduan", "aspirasi", "permintaan_informasi"], [80, 12, 8])[0]
        supervisory = classification == "pengaduan" and rng.random() < 0.12
        covid = date(2020, 4, 1) <= day <= date(2020, 8, 31)
        weights = [w * (3 if covid and name == "Bantuan Sosial" else 1) for name, w, _, _ in CATEGORIES]
        category, _, opd, templates = rng.choices(CATEGORIES, weights=weights)[0]
        title, body = rng.choice(templates)
        fill = {"jalan": rng.choice(JALAN), "desa": rng.choice(DESA), "kec": rng.choice(KECAMATAN),
                "n": rng.randint(2, 9)}
        content = rng.choice(OPENINGS) + body.format(**fill) + rng.choice(CLOSINGS)
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        anonymous = rng.random() < 0.08
        confidential = anonymous or rng.random() < 0.12
        name, phone, email = ("", "", "") if anonymous else _person(rng)
        if channel == "SMS 1708":
            email = ""
        complaint = Complaint(
            seq=seq, agency_code=code, submitted_at=submitted, classification=classification,
            supervisory=supervisory, category=category, channel=channel, title=title.format(**fill),
            content=content, confidential=confidential, anonymous=anonymous, name=name, phone=phone,
            email=email, extra=rng.choice(INTERNAL_NOTES) if profile.extra == "Keterangan Internal"
            else (f"Kecamatan {fill['kec']}" if profile.extra else ""),
        )
        _lifecycle(complaint, profile, opd, rng.choice(officers), cal, rng, sla)
        complaint.finish()
        complaints.append(complaint)
    return complaints


def _lifecycle(c: Complaint, profile: Profile, opd: str, officer: str, cal: WorkingDays,
               rng: random.Random, sla: int) -> None:
    """The complaint's life; a first follow-up comes within the follow-up limit `sla` (working
    days after disposition) unless the agency is slow this time (`profile.slow_followup`: before
    PROMPT_FROM, or always for a chronically late agency, which also leaves some complaints
    without any follow-up)."""
    stuck_rate = profile.backlog if c.submitted_at.year <= 2020 else profile.backlog / 2
    stuck = rng.random() < stuck_rate
    k = rng.choices([0, 1, 2, 3, 4, 5, 6, 8, 10], [26, 30, 18, 10, 5, 4, 3, 2, 2])[0]
    verified = _office_after(cal, c.submitted_at, k, rng)
    action = rng.random()
    if action >= 0.985:  # archived at verification (duplicate, not a complaint, ...)
        c.closed_at, c.closed_status = verified, "archived"
        return
    if action >= 0.95:  # postponed at verification (incomplete report)
        c.postponed_at = verified
        if not stuck and rng.random() < 0.6:
            c.closed_at, c.closed_status = _office_after(cal, verified, rng.randint(10, 60), rng), "archived"
        return
    c.dispositioned_at = verified
    awaiting_forever = stuck and rng.random() < 0.3 and profile.chronic_late
    if awaiting_forever:
        return
    slow = rng.random() < profile.slow_followup
    if slow and (profile.chronic_late or verified.date() < PROMPT_FROM):
        k = rng.randint(sla + 1, sla + 10)
    else:  # six steps from the same day to the limit (at the default limit of 5: 0, 1, ..., 5)
        k = round(rng.choices(range(6), [14, 28, 22, 16, 11, 9])[0] * sla / 5)
    at = _office_after(cal, verified, k, rng)
    c.followups.append(FollowUp(at, rng.choice(FIRST_FOLLOWUPS).format(opd=opd), "in_progress", officer))
    if stuck:  # in progress for good: a few more follow-ups, never closed
        for _ in range(rng.randint(0, 3)):
            at = _office_after(cal, at, rng.randint(5, 40), rng)
            c.followups.append(FollowUp(at, rng.choice(PROGRESS_FOLLOWUPS).format(opd=opd), "in_progress", officer))
        return
    if c.classification != "pengaduan":
        extra_steps, step, final = 0, (1, 1), (0, 3)
    elif c.supervisory:
        extra_steps, step, final = rng.randint(1, 3), (5, 20), (1, 10)
    else:
        extra_steps, step, final = rng.choice([0, 0, 1, 1, 2]), (1, 6), (0, 6)
    for _ in range(extra_steps):
        at = _office_after(cal, at, rng.randint(*step), rng)
        c.followups.append(FollowUp(at, rng.choice(PROGRESS_FOLLOWUPS).format(opd=opd), "in_progress", officer))
    closed = _office_after(cal, at, rng.randint(*final), rng)
    if rng.random() < 0.02:
        c.closed_at, c.closed_status = closed, "archived"
    else:
        c.closed_at, c.closed_status = closed, "completed"
        c.followups.append(FollowUp(closed, rng.choice(CLOSING_FOLLOWUPS).format(opd=opd), "completed", officer))


def _assign_tracking_ids(by_agency: dict[str, list[Complaint]], seed: int, scale: float) -> None:
    """Ids from one national counter in order of submission: 7 digits, unique across agencies."""
    rng = random.Random(f"{seed}/tracking-ids")
    gap = max(1, int(7 / max(scale, 1.0)))
    everything = sorted((c for cs in by_agency.values() for c in cs),
                        key=lambda c: (c.submitted_at, c.agency_code, c.seq))
    counter = 2_900_000 + rng.randrange(1000)
    for complaint in everything:
        counter += rng.randint(1, gap)
        complaint.tracking_id = counter


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------
class _Renderer:
    """One agency's habits applied to typed values (datetime, bool, None, int, str)."""

    def __init__(self, agency: Agency, profile: Profile):
        self.agency = agency
        self.profile = profile
        names = HEADER_DIALECTS[profile.dialect]
        keep = []
        for i, name in enumerate(FIELDS):
            if name == "agency_code" and not profile.with_code:
                continue
            if name == "extra" and not profile.extra:
                continue
            if name in profile.omit:
                continue
            keep.append(i)
        self.keep = keep
        labels = [*names, profile.extra or ""]
        self.complaint_header = [_header(labels[i], profile.header_case) for i in keep]
        self.followup_header = [_header(h, profile.header_case) for h in FOLLOWUP_DIALECTS[profile.dialect]]
        self._cache: dict[tuple[int, int], list] = {}

    def value(self, v):
        p = self.profile
        if v is None or v == "":
            return "" if p.fmt == "csv" else None
        if isinstance(v, bool):
            if p.bools == "json":
                return v
            return p.bools[0] if v else p.bools[1]
        if isinstance(v, datetime):
            return v if p.fmt == "xlsx" else _date_text(v, p.date_style)
        if isinstance(v, int):
            return v if (p.numeric_id and p.fmt != "csv") else str(v)
        return v

    def complaint_row(self, c: Complaint, day: date) -> list:
        key = c.known(day)
        cached = self._cache.get((c.seq, key))
        if cached is not None:
            return cached

        def seen(stamp: datetime | None) -> datetime | None:
            return stamp if stamp is not None and stamp.date() <= day else None

        first = c.followups[0].at if c.followups else None
        typed = [c.tracking_id, c.agency_code, c.submitted_at, c.title, c.content, c.category,
                 CLASSIFICATION_TEXTS[c.classification], c.supervisory, c.channel,
                 _status_text(self.profile, c.status_on(day)), seen(c.dispositioned_at), seen(first),
                 seen(c.closed_at), c.events[key - 1], c.confidential, c.anonymous, c.name, c.phone,
                 c.email, c.extra]
        row = [self.value(typed[i]) for i in self.keep]
        self._cache[(c.seq, key)] = row
        return row

    def followup_row(self, c: Complaint, f: FollowUp) -> list:
        return [self.value(c.tracking_id), self.value(f.at), f.text, _status_text(self.profile, f.status),
                f.officer]

    def encode(self, header: list[str], rows: list[list], titles: list[str], stamp: datetime) -> bytes:
        p = self.profile
        if p.fmt == "xlsx":
            return _xlsx_bytes(titles[:p.title_rows], header, rows, stamp)
        if p.fmt == "json":
            records = [dict(zip(header, row)) for row in rows]
            payload = {"total": len(records), "data": records} if p.json_wrapped else records
            return (json.dumps(payload, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, delimiter=p.delimiter, lineterminator=p.newline,
                            quoting=csv.QUOTE_ALL if p.quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue().encode(p.encoding)


_XLSX_SHEET = "xl/worksheets/sheet1.xml"
_XLSX_CORE = "docProps/core.xml"
_EXCEL_EPOCH = datetime(1899, 12, 30)
_CORE_XML = (
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>Admin SP4N-LAPOR!</dc:creator>'
    '<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified></cp:coreProperties>'
)


@functools.lru_cache(maxsize=1)
def _xlsx_template() -> tuple[tuple[tuple[str, bytes], ...], str, str]:
    """The package openpyxl writes for one sheet with a date cell (so styles.xml has the date
    format as style 1), split around the sheet's rows. Writing the rows directly is ~20x
    faster than openpyxl's cell-by-cell writer and keeps the bytes under our control."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Laporan")
    ws.append([datetime(2021, 1, 1)])
    raw = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src:
        entries = tuple((name, src.read(name)) for name in src.namelist())
    sheet = dict(entries)[_XLSX_SHEET].decode("utf-8")
    head, rest = sheet.split("<sheetData>", 1)
    tail = rest.split("</sheetData>", 1)[1]
    return entries, head + "<sheetData>", "</sheetData>" + tail


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _xlsx_cell(ref: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        delta = value - _EXCEL_EPOCH
        return f'<c r="{ref}" s="1" t="n"><v>{delta.days + delta.seconds / 86400!r}</v></c>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<c r="{ref}" t="n"><v>{value}</v></c>'
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _xlsx_bytes(titles: list[str], header: list[str], rows: list[list], stamp: datetime) -> bytes:
    entries, head, tail = _xlsx_template()
    width = max([len(header), *(len(r) for r in rows)])
    letters = [_column_letter(i) for i in range(width)]
    parts = [head]
    for number, values in enumerate([*([t] for t in titles), header, *rows], start=1):
        cells = "".join(_xlsx_cell(f"{letters[i]}{number}", v) for i, v in enumerate(values))
        parts.append(f'<row r="{number}">{cells}</row>')
    parts.append(tail)
    replaced = {
        _XLSX_SHEET: "".join(parts).encode("utf-8"),
        _XLSX_CORE: _CORE_XML.format(stamp=(stamp - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%SZ")).encode(),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:  # fixed entry times: the bytes depend on the content only
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, replaced.get(name, data))
    return out.getvalue()


def _put(path: Path, data: bytes, stats: dict) -> None:
    """Write unless the file already holds exactly these bytes."""
    try:
        if path.read_bytes() == data:
            stats["unchanged"] += 1
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    stats["written"] += 1


# --------------------------------------------------------------------------------------
# What every agency's simulation shares
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """The policy settings the generated data follows (`lapor.settings.Settings` reads them from
    the environment, their defaults from dbt_project.yml), so the pipeline judges it by the same rules."""
    followup_due_working_day: int
    followup_sla_working_days: int
    cuti_bersama_is_holiday: bool

    @classmethod
    def of(cls, settings: Settings | None = None) -> "Policy":
        settings = settings or Settings.from_env()
        return cls(settings.followup_due_working_day, settings.followup_sla_working_days,
                   settings.cuti_bersama_is_holiday)


class _Plan:
    """The calendar, the days complaints are submitted on (weighted) and the policy."""

    def __init__(self, end: date, policy: Policy):
        self.policy = policy
        self.first_day, self.last_day = date(HISTORY_START.year - 1, 12, 1), date(end.year + 3, 12, 31)
        self.national = WorkingDays(self.first_day, self.last_day,
                                    cuti_bersama_is_holiday=policy.cuti_bersama_is_holiday)
        self.sub_days, self.cum = _submission_days(self.national, end)

    def simulate(self, code: str, profile: Profile, n: int, seed: int, *, scenario: bool) -> list[Complaint]:
        """`n` complaints of one agency with their lifecycle (the scenario's quiet month included)."""
        cal = self.national
        if scenario and code == QUIET_MONTH[0]:
            month = QUIET_MONTH[1]
            closed = {month + timedelta(days=i) for i in range((_next_month(month) - month).days)}
            cal = WorkingDays(self.first_day, self.last_day, frozenset(closed),
                              cuti_bersama_is_holiday=self.policy.cuti_bersama_is_holiday)
        return _simulate_agency(code, profile, n, seed, cal, self.sub_days, self.cum,
                                self.policy.followup_sla_working_days)


@functools.lru_cache(maxsize=4)
def _plan(end: date, policy: Policy) -> _Plan:
    return _Plan(end, policy)


def _export_rows(renderer: "_Renderer", complaints: list[Complaint], submitted_days: list[date], day: date,
                 incremental_days: int | None = None) -> list[list]:
    """The rows of the agency's complaints export of `day`: every complaint submitted by then in
    its state of that day, or (incremental) only those created or changed in the last days."""
    held = complaints[:bisect.bisect_right(submitted_days, day)]
    if incremental_days:
        since = day - timedelta(days=incremental_days)
        held = [c for c in held if c.events[c.known(day) - 1].date() > since]
    if renderer.profile.newest_first:
        held = held[::-1]
    return [renderer.complaint_row(c, day) for c in held]


def _state_day(code: str, day: date) -> date:
    """The day whose state the agency's export of `day` shows: the day itself, but for the silent
    agency, whose exports stay at the day before it went silent."""
    if code == SILENT_AGENCY[0] and day >= SILENT_AGENCY[1]:
        return SILENT_AGENCY[1] - timedelta(days=1)
    return day


def _write_export(out_dir: Path, renderer: "_Renderer", rows: list[list], day: date, stats: dict) -> Path:
    agency, profile = renderer.agency, renderer.profile
    titles = ["Rekap Laporan SP4N-LAPOR!", agency.agency_name,
              f"Posisi data: {day.day} {_MONTHS_ID[day.month]} {day.year}"]
    data = renderer.encode(renderer.complaint_header, rows, titles, datetime.combine(day, time(23, 30)))
    path = out_dir / agency.agency_code / "complaints" / f"{day.isoformat()}.{profile.ext}"
    _put(path, data, stats)
    return path


# --------------------------------------------------------------------------------------
# The demo: the seed scenario
# --------------------------------------------------------------------------------------
def generate_sample_exports(out_dir: Path, *, agencies: list[Agency] | None = None, start: date = DEMO_START,
                            end: date = DEMO_END, scale: float = 1.0, seed: int = 2021,
                            settings: Settings | None = None) -> dict:
    """Write the sample drop folder under `out_dir` and return what was written and planned.

    The summary holds the export days, file counts per kind and format, complaints per
    agency, the 2020 complaints still open at `end` per agency, the agencies' formats and
    the planned exceptions (missing/late/incremental exports and reports). The policy
    (follow-up limit and due day, cuti bersama) is `settings`', else the environment's.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if not HISTORY_START <= start <= end:
        raise ValueError(f"need {HISTORY_START} <= start <= end, got start={start}, end={end}")
    out_dir = Path(out_dir)
    if agencies is None:
        agencies = load_registry(DEFAULT_REGISTRY)
    agencies = sorted(agencies, key=lambda a: a.agency_code)
    plan = _plan(end, Policy.of(settings))
    national = plan.national

    profiles = {a.agency_code: profile_for(a.agency_code) for a in agencies}
    by_agency: dict[str, list[Complaint]] = {}
    for agency in agencies:
        code, profile = agency.agency_code, profiles[agency.agency_code]
        n = max(MIN_COMPLAINTS, round(profile.volume * scale))
        by_agency[code] = plan.simulate(code, profile, n, seed, scenario=True)
        if code == SILENT_AGENCY[0]:  # what it never entered is in no export
            by_agency[code] = [c for c in by_agency[code] if c.submitted_at.date() < SILENT_AGENCY[1]]
    _assign_tracking_ids(by_agency, seed, scale)

    export_days = national.between(start, end)
    stats = {"written": 0, "unchanged": 0}
    files = {"complaints": 0, "followup": 0}
    formats_count = {"csv": 0, "xlsx": 0, "json": 0}
    exceptions: list[dict] = []
    late_reports: list[dict] = []
    open_2020: dict[str, int] = {}
    completed_2020: dict[str, float | None] = {}

    for agency in agencies:
        code, profile = agency.agency_code, profiles[agency.agency_code]
        renderer = _Renderer(agency, profile)
        complaints = by_agency[code]
        submitted_days = [c.submitted_at.date() for c in complaints]

        # Nightly complaint exports.
        for day in export_days:
            if (code, day) == SKIPPED_EXPORT:
                exceptions.append({"agency_code": code, "kind": "export_missing", "date": day.isoformat(),
                                   "detail": "no complaints export delivered for this working day"})
                continue
            incremental = INCREMENTAL_DAYS if code == INCREMENTAL_EXPORT and day > start else None
            rows = _export_rows(renderer, complaints, submitted_days, _state_day(code, day), incremental)
            _write_export(out_dir, renderer, rows, day, stats)
            files["complaints"] += 1
            formats_count[profile.fmt] += 1
        if code == SILENT_AGENCY[0] and export_days[-1] >= SILENT_AGENCY[1]:
            exceptions.append({"agency_code": code, "kind": "silent", "date": SILENT_AGENCY[1].isoformat(),
                               "detail": "no complaint entered from this day; every export from then on "
                                         "is the same file, the state of the day before"})
        if code == INCREMENTAL_EXPORT and len(export_days) > 1:
            exceptions.append({"agency_code": code, "kind": "incremental_export",
                               "date": export_days[1].isoformat(),
                               "detail": f"exports after {start.isoformat()} hold only complaints created or "
                                         f"changed in the last {INCREMENTAL_DAYS} days"})

        # Monthly follow-up reports.
        per_month: dict[date, list[tuple[FollowUp, Complaint]]] = {}
        for c in complaints:
            for f in c.followups:
                per_month.setdefault(f.at.date().replace(day=1), []).append((f, c))
        rng = random.Random(f"{seed}/{code}/reports")
        month = HISTORY_START.replace(day=1)
        while _next_month(month) <= end:
            due = followup_due_date(national, month, plan.policy.followup_due_working_day)
            nxt = _next_month(month)
            window = national.between(nxt, due)
            on_time = rng.choices(window, weights=range(1, len(window) + 1))[0]
            late_by = rng.randint(1, 6)
            is_late = month.year == 2020 and rng.random() < profile.late_reports
            period = f"{month:%Y-%m}"
            if (code, month) == MISSING_REPORT[:2]:
                submitted = MISSING_REPORT[2]
                exceptions.append({"agency_code": code, "kind": "followup_report_missing", "period": period,
                                   "due_date": due.isoformat(), "submitted_on": submitted.isoformat(),
                                   "detail": f"missing until it arrives on {submitted.isoformat()}"})
            elif (code, month) == LATE_REPORT[:2]:
                submitted = LATE_REPORT[2]
                exceptions.append({"agency_code": code, "kind": "followup_report_late", "period": period,
                                   "due_date": due.isoformat(), "submitted_on": submitted.isoformat()})
            elif is_late:
                submitted = national.after(due, late_by)
            else:
                submitted = on_time
            if submitted > due and month.year == 2020:
                late_reports.append({"agency_code": code, "period": period, "due_date": due.isoformat(),
                                     "submitted_on": submitted.isoformat()})
            entries = sorted(per_month.get(month, []), key=lambda e: (e[0].at, e[1].tracking_id))
            rows = [renderer.followup_row(c, f) for f, c in entries]
            versions = [(submitted, rows)]
            if (code, month) == RESUBMITTED_REPORT:
                corrected_on = national.after(submitted, 15)
                versions = [(submitted, rows[:len(rows) - max(1, len(rows) // 6)] if rows else rows),
                            (corrected_on, rows)]
                exceptions.append({"agency_code": code, "kind": "followup_report_resubmitted", "period": period,
                                   "submitted_on": submitted.isoformat(), "corrected_on": corrected_on.isoformat()})
            if not rows and (code, month) == QUIET_MONTH:
                exceptions.append({"agency_code": code, "kind": "followup_report_empty", "period": period,
                                   "submitted_on": submitted.isoformat(),
                                   "detail": "the complaint desk was closed that month: no follow-ups, "
                                             "a report with no rows"})
            for sent_on, version in versions:
                if sent_on > end:
                    continue
                titles = ["Laporan Hasil Tindak Lanjut Pengaduan SP4N-LAPOR!", agency.agency_name,
                          f"Periode: {_MONTHS_ID[month.month]} {month.year}"]
                data = renderer.encode(renderer.followup_header, version, titles,
                                       datetime.combine(sent_on, time(10, 0)))
                _put(out_dir / code / "followup" / f"{period}_{sent_on.isoformat()}.{profile.ext}", data, stats)
                files["followup"] += 1
                formats_count[profile.fmt] += 1
            month = nxt

        of_2020 = [c for c in complaints if c.submitted_at.year == 2020]
        as_of = _state_day(code, end)
        open_2020[code] = sum(c.status_on(as_of) not in ("completed", "archived") for c in of_2020)
        done = sum(c.status_on(as_of) == "completed" for c in of_2020)
        completed_2020[code] = round(100 * done / len(of_2020), 1) if of_2020 else None

    counts = {code: len(cs) for code, cs in by_agency.items()}
    return {
        "out_dir": str(out_dir),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "scale": scale,
        "seed": seed,
        "export_days": [d.isoformat() for d in export_days],
        "files": {**files, "total": files["complaints"] + files["followup"], "by_format": formats_count,
                  **stats},
        "complaints": counts,
        "total_complaints": sum(counts.values()),
        "open_2020_at_end": open_2020,
        "completion_rate_2020_pct": completed_2020,
        "formats": {code: profiles[code].describe() for code in counts},
        "exceptions": exceptions,
        "late_followup_reports_2020": late_reports,
    }


# --------------------------------------------------------------------------------------
# The benchmark's scales
# --------------------------------------------------------------------------------------
DAY0 = date(2021, 5, 24)   # the full history export (Monday)
DAY1 = date(2021, 5, 25)   # the "one more day" export (Tuesday, a working day)
SCALE_MIN_COMPLAINTS = 20
MANIFEST = "bench-manifest.json"
GENERATOR_VERSION = 2
# The benchmark's one habit: a CSV that PostgreSQL's plain COPY reads as the readers do (ISO
# times without a zone, read as WIB; booleans Y/N; LAPOR!'s status labels; the agency code).
PLAIN_CSV = Profile(with_code=True, bools=("Y", "N"), backlog=0.05)


@dataclass(frozen=True)
class Scale:
    name: str
    agencies: int
    complaints: int      # complaints of history, spread over the agencies
    repeat: int          # the benchmark's default repetitions
    note: str = ""


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 3, 2_000, 1, "for the test suite"),
    "small": Scale("small", 38, 20_000, 3, "about a minute"),
    "jatim": Scale("jatim", 38, 300_000, 1, "Jawa Timur, about 300 thousand complaints of history"),
    "national": Scale("national", 700, 10_000_000, 1, "700 agencies, 10 million complaints"),
}


def registry_rows(scale: Scale) -> list[dict]:
    """The agencies of a scale: Jawa Timur's for up to 38, synthetic 91.01… beyond."""
    from lapor.registry import COLUMNS

    if scale.agencies <= 38:
        agencies = load_registry(DEFAULT_REGISTRY)[:scale.agencies]
        return [dict(zip(COLUMNS, ["" if v is None else str(v) for v in a.as_row()])) for a in agencies]
    rows = []
    for i in range(scale.agencies):
        prefix, number = 91 + i // 99, i % 99 + 1
        code = f"{prefix}.{number:02d}"
        rows.append({"agency_code": code, "agency_name": f"Instansi Sintetis {code}",
                     "agency_type": "kabupaten" if number % 5 else "kota",
                     "sk_number": f"188/{i + 1}/KPTS/{prefix}{number:02d}/2020", "sk_date": "2020-06-01",
                     "admin_email": f"admin.lapor.{prefix}{number:02d}@bench.example", "source": "folder",
                     "source_url": ""})
    return rows


def write_registry(scale: Scale, path: Path) -> list[str]:
    from lapor.registry import COLUMNS

    rows = registry_rows(scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return [r["agency_code"] for r in rows]


def agency_volumes(scale: Scale, codes: list[str], seed: int) -> dict[str, int]:
    """Complaints per agency: Zipf-like (weight 1/rank^0.8), ranks shuffled by seed."""
    ranks = list(range(1, len(codes) + 1))
    random.Random(f"{seed}/ranks").shuffle(ranks)
    weights = [r ** -0.8 for r in ranks]
    total = sum(weights)
    volumes = [max(SCALE_MIN_COMPLAINTS, round(scale.complaints * w / total)) for w in weights]
    # make the total exact: the largest agency absorbs the rounding
    biggest = max(range(len(codes)), key=volumes.__getitem__)
    volumes[biggest] += scale.complaints - sum(volumes)
    return dict(zip(codes, volumes))


def _scaled_agency(task: tuple) -> dict:
    """One agency of a scale: its D0 export (its `n` complaints, submitted from 1 January 2020
    to D0, in their state of D0) and its D1 export (only what changed on D1, as Kota Batu sends
    in the demo); returns rows and bytes of each."""
    out_dir, agency, n, first_id, seed, policy = task
    complaints = _plan(DAY0, policy).simulate(agency.agency_code, PLAIN_CSV, n, seed, scenario=False)
    for c in complaints:  # one block of ids per agency, in order of submission
        c.tracking_id = first_id + c.seq
    renderer = _Renderer(agency, PLAIN_CSV)
    submitted_days = [c.submitted_at.date() for c in complaints]
    stats = {"written": 0, "unchanged": 0}
    out = {"agency_code": agency.agency_code}
    for key, day, incremental in (("day0", DAY0, None), ("day1", DAY1, 1)):
        rows = _export_rows(renderer, complaints, submitted_days, day, incremental)
        path = _write_export(Path(out_dir), renderer, rows, day, stats)
        out[f"rows_{key}"], out[f"bytes_{key}"] = len(rows), path.stat().st_size
    return out


def generate(out_dir: Path, scale: Scale, *, seed: int = 2021, processes: int | None = None,
             settings: Settings | None = None) -> dict:
    """Write a scale's registry and the D0/D1 exports of every agency; returns the manifest.

    Agencies are written in parallel (one process per CPU) from a scale of 50,000 complaints.
    """
    import multiprocessing

    out_dir = Path(out_dir)
    exports = out_dir / "exports"
    registry = out_dir / "registry.csv"
    write_registry(scale, registry)
    agencies = load_registry(registry)
    policy = Policy.of(settings)
    volumes = agency_volumes(scale, [a.agency_code for a in agencies], seed)
    tasks, next_id = [], 10_000_000
    for agency in agencies:
        n = volumes[agency.agency_code]
        tasks.append((str(exports), agency, n, next_id, seed, policy))
        next_id += n + 10
    tasks.sort(key=lambda t: -t[2])  # largest first: the pool finishes together
    processes = processes or min(os.cpu_count() or 1, len(tasks))
    if processes > 1 and scale.complaints >= 50_000:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = list(pool.imap_unordered(_scaled_agency, tasks))
    else:
        results = [_scaled_agency(t) for t in tasks]
    results.sort(key=lambda r: r["agency_code"])
    manifest = {
        "generator_version": GENERATOR_VERSION, "scale": asdict(scale), "seed": seed, "policy": asdict(policy),
        "day0": DAY0.isoformat(), "day1": DAY1.isoformat(), "registry": str(registry), "exports": str(exports),
        "rows_day0": sum(r["rows_day0"] for r in results), "rows_day1": sum(r["rows_day1"] for r in results),
        "bytes_day0": sum(r["bytes_day0"] for r in results), "bytes_day1": sum(r["bytes_day1"] for r in results),
        "agencies": results,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def existing(out_dir: Path, scale: Scale, seed: int = 2021, settings: Settings | None = None) -> dict | None:
    """The manifest of an earlier generation of the same scale, seed and policy, if its files are all there."""
    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (manifest.get("generator_version") != GENERATOR_VERSION or manifest.get("scale") != asdict(scale)
            or manifest.get("seed") != seed or manifest.get("policy") != asdict(Policy.of(settings))):
        return None
    exports = Path(manifest["exports"])
    for a in manifest["agencies"]:
        for day, key in ((DAY0, "bytes_day0"), (DAY1, "bytes_day1")):
            f = exports / a["agency_code"] / "complaints" / f"{day}.csv"
            if not f.is_file() or f.stat().st_size != a[key]:
                return None
    return manifest
