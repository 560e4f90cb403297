"""Header aliases of the drop-folder files (docs/inputs.md) and header matching.

Two tables, because the same header means different things in the two kinds of file:
"Status" is the complaint status in a complaints export but `result_status` in a
follow-up report, and "Tanggal Tindak Lanjut" is `first_followup_at` in a complaints
export but `followup_at` in a follow-up report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# canonical column -> header aliases (the canonical name itself always matches too)
COMPLAINT_ALIASES: dict[str, tuple[str, ...]] = {
    "tracking_id": ("ID Laporan", "Tracking ID", "TrackingID", "No Tracking", "Nomor Laporan"),
    "status": ("Status", "Status Laporan"),
    "submitted_at": ("Tanggal Laporan", "Tanggal Masuk", "Tanggal Laporan Masuk", "Tgl Laporan"),
    "agency_code": ("Kode Instansi", "Kode Wilayah"),
    "title": ("Judul", "Judul Laporan"),
    "content": ("Isi", "Isi Laporan"),
    "category": ("Kategori",),
    "classification": ("Klasifikasi",),
    "channel": ("Kanal", "Sumber", "Sumber Laporan"),
    "dispositioned_at": ("Tanggal Disposisi", "Tanggal Verifikasi"),
    "first_followup_at": ("Tanggal Tindak Lanjut", "Tanggal Tindak Lanjut Pertama", "Tgl TL"),
    "closed_at": ("Tanggal Selesai", "Tanggal Ditutup", "Tanggal Laporan Ditutup"),
    "last_activity_at": ("Tanggal Aktivitas Terakhir",),
    "is_confidential": ("Rahasia",),
    "is_anonymous": ("Anonim",),
    "is_supervisory": ("Berkadar Pengawasan",),
    "reporter_name": ("Nama Pelapor", "Pelapor"),
    "reporter_phone": ("Telepon Pelapor", "No HP", "No HP Pelapor"),
    "reporter_email": ("Email Pelapor",),
}
COMPLAINT_REQUIRED: tuple[str, ...] = ("tracking_id", "status", "submitted_at")
COMPLAINT_DATES: tuple[str, ...] = (
    "submitted_at", "dispositioned_at", "first_followup_at", "closed_at", "last_activity_at",
)

FOLLOWUP_ALIASES: dict[str, tuple[str, ...]] = {
    "tracking_id": COMPLAINT_ALIASES["tracking_id"],
    "followup_at": ("Tanggal Tindak Lanjut",),
    "action": ("Uraian Tindak Lanjut", "Tindak Lanjut"),
    "result_status": ("Status", "Status Akhir"),
    "officer": ("Petugas", "Nama Petugas"),
}
FOLLOWUP_REQUIRED: tuple[str, ...] = ("tracking_id", "followup_at")


def header_key(text: object) -> str:
    """The matching key of a header: case-folded, only letters and digits kept."""
    if text is None:
        return ""
    return "".join(ch for ch in str(text).casefold() if ch.isalnum())


@dataclass(frozen=True)
class Schema:
    """One kind of file: its alias table and required columns."""

    name: str
    aliases: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    lookup: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}
        for canonical, aliases in self.aliases.items():
            for alias in (canonical, *aliases):
                lookup.setdefault(header_key(alias), canonical)
        object.__setattr__(self, "lookup", lookup)

    def canonical(self, header: object) -> str | None:
        return self.lookup.get(header_key(header))

    def recognised(self, headers: list[object]) -> int:
        """How many distinct contract columns these headers name (used to pick a delimiter)."""
        return len({c for c in map(self.canonical, headers) if c is not None})

    def required_found(self, headers: list[object]) -> int:
        found = {self.canonical(h) for h in headers}
        return sum(1 for column in self.required if column in found)


COMPLAINTS = Schema("complaints", COMPLAINT_ALIASES, COMPLAINT_REQUIRED)
FOLLOWUPS = Schema("follow-up", FOLLOWUP_ALIASES, FOLLOWUP_REQUIRED)


@dataclass(frozen=True)
class HeaderMap:
    """A file's header resolved against a schema.

    `names` are the keys used in `original`: the header texts, with a blank header named
    `column_<n>` and a repeated header suffixed ` (2)`, ` (3)`, ... so no cell is lost.
    `index` maps each recognised canonical column to its position (the first header
    naming it wins); `extra` lists the positions of every other column.
    """

    names: tuple[str, ...]
    index: dict[str, int]
    extra: tuple[int, ...]

    def name_of(self, column: str) -> str:
        return self.names[self.index[column]]


def unique_names(headers: list[object]) -> tuple[str, ...]:
    names: list[str] = []
    seen: set[str] = set()
    for position, header in enumerate(headers, start=1):
        name = "" if header is None else str(header).strip()
        if not name:
            name = f"column_{position}"
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name} ({n})"
        seen.add(candidate)
        names.append(candidate)
    return tuple(names)


def map_headers(headers: list[object], schema: Schema) -> HeaderMap:
    index: dict[str, int] = {}
    extra: list[int] = []
    for position, header in enumerate(headers):
        canonical = schema.canonical(header)
        if canonical is not None and canonical not in index:
            index[canonical] = position
        else:
            extra.append(position)
    return HeaderMap(unique_names(headers), index, tuple(extra))


def missing_required(header_map: HeaderMap, schema: Schema) -> list[str]:
    return [column for column in schema.required if column not in header_map.index]


def describe_required(column: str, schema: Schema) -> str:
    """`submitted_at (e.g. 'Tanggal Laporan')`, for messages."""
    aliases = schema.aliases[column]
    return f"{column} (e.g. '{aliases[0]}')" if aliases else column
