"""The benchmark's drop folder: a fast generator of complaint exports at a named scale.

The demo generator (`lapor.dev.generate`) simulates every agency's habits and writes a full export
for every day; at national scale (700 agencies, 10 million complaints) that would take
hours and hundreds of gigabytes. This one writes what the benchmark needs, quickly:

- one CSV per agency for the first day D0 (`<code>/complaints/<D0>.csv`) holding the
  agency's whole history (complaints submitted from 1 January 2020 to D0) in its state as
  of D0: the load a new warehouse starts from;
- one small CSV per agency for the next day D1 holding only what was submitted or changed
  on D1 (as Kota Batu sends in the demo): the nightly increment;
- a registry CSV with the scale's agencies (the Jawa Timur codes for the 38-agency scales,
  synthetic codes 91.01, 91.02, … for national scale) for `LAPOR_REGISTRY`.

Agencies differ in size (a Zipf-like spread, so the benchmark has small and large files);
complaints move through disposition, first follow-up and closing on the working-day
calendar of `lapor.calendar`. Every row is valid: the loader rejects nothing. The CSV is
what the plain-COPY baseline reads too, so its values are ones PostgreSQL parses as well
(ISO timestamps without a zone, read as WIB; booleans Y/N).

Same scale and seed, same bytes; agencies are written in parallel (one process per CPU).
"""
from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from lapor import vocabulary

HISTORY_START = date(2020, 1, 1)
DAY0 = date(2021, 5, 24)   # the full history export (Monday)
DAY1 = date(2021, 5, 25)   # the "one more day" export (Tuesday, a working day)
MIN_COMPLAINTS = 20
MANIFEST = "bench-manifest.json"
GENERATOR_VERSION = 1

HEADER = ["ID Laporan", "Kode Instansi", "Tanggal Laporan", "Judul Laporan", "Isi Laporan", "Kategori",
          "Klasifikasi", "Berkadar Pengawasan", "Sumber", "Status Laporan", "Tanggal Disposisi",
          "Tanggal Tindak Lanjut Pertama", "Tanggal Selesai", "Tanggal Aktivitas Terakhir", "Rahasia",
          "Anonim", "Nama Pelapor", "No HP Pelapor", "Email Pelapor"]
# Every status written as LAPOR! labels it (the vocabulary seeds, lapor.vocabulary).
STATUS_TEXT = {s.code: s.label for s in vocabulary.current().statuses}


@dataclass(frozen=True)
class Scale:
    name: str
    agencies: int
    complaints: int      # complaints of history in the D0 exports
    repeat: int          # default repetitions
    note: str = ""


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 3, 2_000, 1, "for the test suite"),
    "small": Scale("small", 38, 20_000, 3, "about a minute"),
    "jatim": Scale("jatim", 38, 300_000, 1, "Jawa Timur, about 300 thousand complaints of history"),
    "national": Scale("national", 700, 10_000_000, 1, "700 agencies, 10 million complaints"),
}


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------
def registry_rows(scale: Scale) -> list[dict]:
    """The agencies of a scale: Jawa Timur's for up to 38, synthetic 91.01… beyond."""
    from lapor.registry import COLUMNS, load_registry
    from lapor.settings import DEFAULT_REGISTRY

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
    """Complaints of history per agency: Zipf-like (weight 1/rank^0.8), ranks shuffled by seed."""
    ranks = list(range(1, len(codes) + 1))
    random.Random(f"{seed}/ranks").shuffle(ranks)
    weights = [r ** -0.8 for r in ranks]
    total = sum(weights)
    volumes = [max(MIN_COMPLAINTS, round(scale.complaints * w / total)) for w in weights]
    # make the total exact: the largest agency absorbs the rounding
    biggest = max(range(len(codes)), key=volumes.__getitem__)
    volumes[biggest] += scale.complaints - sum(volumes)
    return dict(zip(codes, volumes))


# --------------------------------------------------------------------------------------
# Calendar and text pools (built once per process)
# --------------------------------------------------------------------------------------
class _Calendar:
    def __init__(self) -> None:
        from lapor.calendar import calendar_rows

        first, last = HISTORY_START - timedelta(days=7), DAY1 + timedelta(days=400)
        self.first = first.toordinal()
        rows = calendar_rows(first, last)
        self.day_text = [r[0].isoformat() for r in rows]
        working = [not (r[1] or r[2] or r[3]) for r in rows]
        self.working_days = [i for i, w in enumerate(working) if w]       # day offsets
        self.count_upto: list[int] = []                                   # working days <= offset
        n = 0
        for w in working:
            n += w
            self.count_upto.append(n)

    def offset(self, day: date) -> int:
        return day.toordinal() - self.first

    def after(self, offset: int, k: int) -> int:
        """The k-th working day strictly after the day at `offset` (k >= 1)."""
        return self.working_days[self.count_upto[offset] + k - 1]


def _csv(text: str) -> str:
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class _Pools:
    """Pre-rendered, CSV-quoted texts: titles and contents, people, times of day."""

    def __init__(self, seed: int) -> None:
        from lapor.dev import generate as demo

        rng = random.Random(f"{seed}/pools")
        self.subjects: list[tuple[str, str, str, str]] = []   # (title, content, category, classification)
        weights = [c[1] for c in demo.CATEGORIES]
        for _ in range(3000):
            category, _, _, items = rng.choices(demo.CATEGORIES, weights)[0]
            title, body = rng.choice(items)
            fill = {"jalan": rng.choice(demo.JALAN), "desa": rng.choice(demo.DESA),
                    "kec": rng.choice(demo.KECAMATAN), "n": rng.randint(2, 9)}
            content = rng.choice(demo.OPENINGS) + body.format(**fill) + rng.choice(demo.CLOSINGS)
            classification = rng.choices(["Pengaduan", "Aspirasi", "Permintaan Informasi"], [80, 14, 6])[0]
            self.subjects.append((_csv(title.format(**fill)), _csv(content), _csv(category), classification))
        self.people: list[str] = []  # "name,phone,email" already joined
        for _ in range(5000):
            first, last = rng.choice(demo.FIRST_NAMES), rng.choice(demo.LAST_NAMES)
            name = f"{first} {last}"
            phone = "0" + rng.choice(demo.PHONE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))
            local = name.lower().replace("moch.", "moch").replace(" ", rng.choice([".", "_", ""]))
            email = f"{local}{rng.randrange(100)}@{rng.choice(demo.MAIL_DOMAINS)}"
            self.people.append(f"{_csv(name)},{phone},{email}")
        self.channels = [_csv(c) for c in demo.CHANNELS]
        self.channel_weights = demo.CHANNEL_WEIGHTS
        self.any_time = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in (0, 17, 42)]
        self.office_time = [f"{h:02d}:{m:02d}:00" for h in range(7, 16) for m in range(60)]


_CAL: _Calendar | None = None
_POOLS: dict[int, _Pools] = {}


def _shared(seed: int) -> tuple[_Calendar, _Pools]:
    global _CAL
    if _CAL is None:
        _CAL = _Calendar()
    if seed not in _POOLS:
        _POOLS[seed] = _Pools(seed)
    return _CAL, _POOLS[seed]


# --------------------------------------------------------------------------------------
# One agency
# --------------------------------------------------------------------------------------
def _agency_files(task: tuple) -> dict:
    """Write one agency's D0 (history) and D1 (changes) exports; returns counts and sizes."""
    out_dir, code, n_history, first_id, seed = task
    cal, pools = _shared(seed)
    rng = random.Random(f"{seed}/{code}")
    rand, randrange = rng.random, rng.randrange
    d0, d1 = cal.offset(DAY0), cal.offset(DAY1)
    start = cal.offset(HISTORY_START)
    history_days = d0 - start + 1
    n_new = max(1, round(n_history / history_days))  # submitted on D1
    submitted = sorted(start + randrange(history_days) for _ in range(n_history)) + [d1] * n_new
    day_text, any_time, office_time = cal.day_text, pools.any_time, pools.office_time
    subjects, people = pools.subjects, pools.people
    channels = rng.choices(pools.channels, pools.channel_weights, k=97)
    after = cal.after

    folder = Path(out_dir) / code / "complaints"
    folder.mkdir(parents=True, exist_ok=True)
    header = ",".join(HEADER) + "\r\n"
    rows0: list[str] = []
    rows1: list[str] = []
    written0 = written1 = 0
    tmp0, tmp1 = folder / f".{DAY0}.csv.tmp", folder / f".{DAY1}.csv.tmp"
    with open(tmp0, "w", encoding="utf-8", newline="") as f0, open(tmp1, "w", encoding="utf-8", newline="") as f1:
        f0.write(header)
        f1.write(header)
        for i, s in enumerate(submitted):
            # the life of the complaint, as day offsets (None = never)
            r = rand()
            verified = after(s, 1 + randrange(3))
            postponed = r < 0.02
            disp = None if postponed else verified
            fu = close = None
            if disp is not None:
                fu = after(disp, 1 + randrange(5) if rand() < 0.88 else 6 + randrange(10))
                if r > 0.07:  # 5% stay open for good
                    close = after(fu, 1 + randrange(20)) if rand() < 0.7 else fu
            closed_status = "archived" if 0.07 < r < 0.15 else "completed"
            title, content, category, classification = subjects[randrange(3000)]
            supervisory = "Y" if classification == "Pengaduan" and rand() < 0.1 else "N"
            anonymous = rand() < 0.08
            who = ",," if anonymous else people[randrange(5000)]
            flags = f"{'Y' if rand() < 0.04 else 'N'},{'Y' if anonymous else 'N'}"
            t_sub = f"{day_text[s]} {any_time[randrange(4320)]}"
            t_ver = f"{day_text[verified]} {office_time[randrange(540)]}"
            t_disp = t_ver if disp is not None else ""
            t_fu = f"{day_text[fu]} {office_time[randrange(540)]}" if fu is not None else ""
            t_close = t_fu if close == fu else (f"{day_text[close]} {office_time[randrange(540)]}"
                                               if close is not None else "")
            lead = f"{first_id + i},{code},{t_sub},{title},{content},{category},{classification},{supervisory}," \
                   f"{channels[i % 97]},"
            tail = f",{flags},{who}\r\n"
            events = (s, verified, fu, close)
            for day, rows in ((d0, rows0), (d1, rows1)):
                if s > day:
                    continue
                if day == d1 and s != d1 and d1 not in events:
                    continue  # unchanged on D1: not in the day's export
                if close is not None and close <= day:
                    status, shown = closed_status, (t_disp, t_fu, t_close, t_close)
                elif postponed and verified <= day:
                    status, shown = "postponed", ("", "", "", t_ver)
                elif fu is not None and fu <= day:
                    status, shown = "in_progress", (t_disp, t_fu, "", t_fu)
                elif disp is not None and disp <= day:
                    status, shown = "awaiting_followup", (t_disp, "", "", t_disp)
                else:
                    status, shown = "unverified", ("", "", "", t_sub)
                rows.append(f"{lead}{STATUS_TEXT[status]},{','.join(shown)}{tail}")
            if len(rows0) >= 20000:
                chunk = "".join(rows0)
                f0.write(chunk)
                written0 += len(rows0)
                rows0.clear()
        for f, rows in ((f0, rows0), (f1, rows1)):
            f.write("".join(rows))
        written0 += len(rows0)
        written1 = len(rows1)
    os.replace(tmp0, folder / f"{DAY0}.csv")
    os.replace(tmp1, folder / f"{DAY1}.csv")
    return {"agency_code": code, "rows_day0": written0, "rows_day1": written1,
            "bytes_day0": (folder / f"{DAY0}.csv").stat().st_size,
            "bytes_day1": (folder / f"{DAY1}.csv").stat().st_size}


def generate(out_dir: Path, scale: Scale, *, seed: int = 2021, processes: int | None = None) -> dict:
    """Write the registry and the D0/D1 exports of every agency; returns the manifest."""
    import multiprocessing

    out_dir = Path(out_dir)
    exports = out_dir / "exports"
    registry = out_dir / "registry.csv"
    codes = write_registry(scale, registry)
    volumes = agency_volumes(scale, codes, seed)
    tasks, next_id = [], 10_000_000
    for code in codes:
        n = volumes[code]
        tasks.append((str(exports), code, n, next_id, seed))
        next_id += n + n // 100 + 10  # room for the D1 submissions
    tasks.sort(key=lambda t: -t[2])  # largest first: the pool finishes together
    processes = processes or min(os.cpu_count() or 1, len(tasks))
    if processes > 1 and scale.complaints >= 50_000:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = list(pool.imap_unordered(_agency_files, tasks))
    else:
        results = [_agency_files(t) for t in tasks]
    results.sort(key=lambda r: r["agency_code"])
    manifest = {
        "generator_version": GENERATOR_VERSION, "scale": asdict(scale), "seed": seed,
        "day0": DAY0.isoformat(), "day1": DAY1.isoformat(), "registry": str(registry), "exports": str(exports),
        "rows_day0": sum(r["rows_day0"] for r in results), "rows_day1": sum(r["rows_day1"] for r in results),
        "bytes_day0": sum(r["bytes_day0"] for r in results), "bytes_day1": sum(r["bytes_day1"] for r in results),
        "agencies": results,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def existing(out_dir: Path, scale: Scale, seed: int = 2021) -> dict | None:
    """The manifest of an earlier generation of the same scale and seed, if its files are all there."""
    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (manifest.get("generator_version") != GENERATOR_VERSION or manifest.get("scale") != asdict(scale)
            or manifest.get("seed") != seed):
        return None
    exports = Path(manifest["exports"])
    for a in manifest["agencies"]:
        for day, key in ((DAY0, "bytes_day0"), (DAY1, "bytes_day1")):
            f = exports / a["agency_code"] / "complaints" / f"{day}.csv"
            if not f.is_file() or f.stat().st_size != a[key]:
                return None
    return manifest
