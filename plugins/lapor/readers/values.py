"""Cell values: dates and times, booleans, statuses, classifications, tracking ids.

Pure functions over one cell. A cell is text, None, or (from a spreadsheet) a
`datetime`/`date` object; the format readers turn every other cell type into text.
"""
from __future__ import annotations

import re
from functools import lru_cache
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from lapor import vocabulary
from lapor.settings import TIMEZONE

WIB = ZoneInfo(TIMEZONE)

Cell = str | date | datetime | None


class UnreadableValue(ValueError):
    """A non-empty cell that cannot be read as the type its column needs."""


# --- text ---------------------------------------------------------------------------

def clean_text(value: Cell) -> str | None:
    """Stripped text; empty -> None."""
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    text = value.strip()
    return text or None


def is_blank(value: Cell) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_FLOAT_ID = re.compile(r"^(\d+)\.0*$")


def clean_tracking_id(value: Cell) -> str | None:
    """Tracking ids are text; `3007395.0` (a spreadsheet number) reads as `3007395`."""
    text = clean_text(value)
    if text is None:
        return None
    match = _FLOAT_ID.match(text)
    return match.group(1) if match else text


def same_code(a: str, b: str) -> bool:
    """Agency codes equal as text, or as numbers (`35.1` from a spreadsheet cell vs `35.10`)."""
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False


# --- booleans -----------------------------------------------------------------------

_TRUE = frozenset({"ya", "y", "1", "true", "yes"})
_FALSE = frozenset({"tidak", "t", "n", "0", "false", "no"})


def parse_bool(value: Cell) -> bool | None:
    """Ya/Tidak, Y/T, Y/N, 1/0, true/false in any case; anything else (or empty) -> None."""
    if not isinstance(value, str):
        return None
    return _parse_bool_text(value)


@lru_cache(maxsize=1024)
def _parse_bool_text(value: str) -> bool | None:
    text = value.strip().casefold()
    if text.endswith(".0") and text[:-2] in ("0", "1"):
        text = text[:-2]
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


# --- statuses and classifications ---------------------------------------------------
# The vocabulary is the dbt seeds' (lapor.vocabulary, dbt_project/seeds/); nothing here lists it.


def __getattr__(name: str):
    if name == "STATUSES":  # normalized status -> its export texts (docs/inputs.md#statuses)
        return dict(vocabulary.current().status_texts)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def normalize_status(value: Cell) -> str | None:
    """The normalized status of an export text (docs/inputs.md), or None when unknown or empty."""
    if not isinstance(value, str):
        return None
    return _normalize_status_text(vocabulary.current(), value)


@lru_cache(maxsize=1024)
def _normalize_status_text(words: vocabulary.Vocabulary, value: str) -> str | None:
    return _status_lookup(words).get(vocabulary.status_key(value))


@lru_cache(maxsize=4)
def _status_lookup(words: vocabulary.Vocabulary) -> dict[str, str]:
    return words.status_lookup()


def normalize_classification(value: Cell) -> str | None:
    """The classification's code (`pengaduan`, `aspirasi`, `permintaan_informasi`): a code or label
    in any case and spacing, else the first code whose keyword the text contains (`Pengaduan
    Berkadar Pengawasan` is a pengaduan); otherwise the lowercased text, which the warehouse
    leaves empty (it is no classification of the seed). Empty -> None."""
    if isinstance(value, str):
        return _normalize_classification_text(vocabulary.current(), value)
    return None if value is None else value.isoformat()


@lru_cache(maxsize=1024)
def _normalize_classification_text(words: vocabulary.Vocabulary, value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    found = _classification_lookup(words).get(vocabulary.classification_key(text))
    if found is not None:
        return found
    lowered = text.lower()
    return next((code for keyword, code in words.classification_keywords() if keyword in lowered), lowered)


@lru_cache(maxsize=4)
def _classification_lookup(words: vocabulary.Vocabulary) -> dict[str, str]:
    return words.classification_lookup()


# --- dates and times ----------------------------------------------------------------

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("januari", "january", "jan"),
        ("februari", "february", "pebruari", "feb", "peb"),
        ("maret", "march", "mar"),
        ("april", "apr"),
        ("mei", "may"),
        ("juni", "june", "jun"),
        ("juli", "july", "jul"),
        ("agustus", "august", "agu", "agt", "ags", "aug"),
        ("september", "sep", "sept"),
        ("oktober", "october", "okt", "oct"),
        ("november", "nov", "nop", "nopember"),
        ("desember", "december", "des", "dec"),
    ),
    start=1,
):
    for _name in _names:
        MONTHS[_name] = _number

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?)?$",
    re.IGNORECASE,
)
_ZONE_SPACE = re.compile(r"\s+(?=[Z+-])")
_TIME = r"(?:\s*(?:,|pukul|jam)?\s*(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?(?:\s*WIB)?"
_NUMERIC = re.compile(r"^(\d{1,2})([/-])(\d{1,2})\2(\d{4})" + _TIME + r"$", re.IGNORECASE)
_NAMED = re.compile(
    r"^(?:[^\W\d_]+,\s*)?(\d{1,2})[\s-]+([^\W\d_]+)\.?[\s-]+(\d{4})" + _TIME + r"$",
    re.IGNORECASE,
)


def _at(year: int, month: int, day: int, hh: str | None, mm: str | None, ss: str | None) -> datetime:
    return datetime(year, month, day, int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=WIB)


def parse_datetime(value: Cell) -> datetime | None:
    """A timezone-aware datetime in WIB (`settings.TIMEZONE`); None for an empty cell.

    Reads ISO 8601 (zone optional), DD/MM/YYYY and DD-MM-YYYY with an optional HH:MM or
    HH:MM:SS, and day-month-year with Indonesian (or English) month names, full or
    abbreviated. Day first, always. No zone means WIB; a date alone means midnight WIB.
    Raises UnreadableValue for anything else.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        try:
            return value.replace(tzinfo=WIB) if value.tzinfo is None else value.astimezone(WIB)
        except OverflowError:  # a moment at the very edge of the calendar, moved to WIB
            raise UnreadableValue(f"{value.isoformat()!r} is not a readable date") from None
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=WIB)
    return _parse_datetime_text(value)


@lru_cache(maxsize=16384)  # exports repeat the same timestamps a lot; datetimes are immutable
def _parse_datetime_text(value: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    try:
        if _ISO.match(text):
            parsed = datetime.fromisoformat(_ZONE_SPACE.sub("", text.replace(",", ".").upper()))
            return parsed.replace(tzinfo=WIB) if parsed.tzinfo is None else parsed.astimezone(WIB)
        match = _NUMERIC.match(text)
        if match:
            day, _, month, year, hh, mm, ss = match.groups()
            return _at(int(year), int(month), int(day), hh, mm, ss)
        match = _NAMED.match(text)
        if match:
            day, month_name, year, hh, mm, ss = match.groups()
            month = MONTHS.get(month_name.casefold())
            if month is not None:
                return _at(int(year), month, int(day), hh, mm, ss)
    except (ValueError, OverflowError):  # day 31 in a 30-day month, hour 25, year 1 moved to WIB, ...
        pass
    raise UnreadableValue(f"{text!r} is not a readable date")
