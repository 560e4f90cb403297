"""Bahasa Indonesia formatting, in one place: month names, dates, numbers, and the order of
severities (read from the seed severities.csv, lapor.vocabulary). The report's templates and
charts, the e-mails and the checks' texts all use it.

Numbers: 1.234 for whole numbers, 1.234,5 otherwise (half up), "–" for no value.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from lapor import vocabulary

MONTHS_ID = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
             "Oktober", "November", "Desember"]
MONTHS_SHORT_ID = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
EMPTY = "–"

__all__ = ["angka", "persen", "selisih", "tanggal", "tanggal_singkat", "bulan", "bulan_singkat", "month_label",
           "severity_rank", "EMPTY", "MONTHS_ID"]


def tanggal(value) -> str:
    """27 Mei 2021 (a date, or an ISO date string)"""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.day} {MONTHS_ID[value.month - 1]} {value.year}"


def severity_rank(severity: str | None) -> int:
    """0 for the most severe; an unknown severity sorts last. The order is the seed's
    (severities.csv, `position`): the digest, the agency e-mails and the report sort by it."""
    return vocabulary.severity_rank(severity)


def angka(value, digits: int | None = None) -> str:
    """1.234 (whole numbers), 1.234,5 (one decimal unless `digits` says otherwise); None → "–"."""
    if value is None:
        return EMPTY
    if digits is None:
        digits = 0 if isinstance(value, int) else 1
    number = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if number == 0:
        number = abs(number)  # no "-0,0"
    text = f"{number:,.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def persen(value, digits: int = 1) -> str:
    """69,78% (with digits=2); None → "–"."""
    return EMPTY if value is None else f"{angka(value, digits)}%"


def selisih(value, digits: int = 0) -> str:
    """A change with its sign: +12, -3, 0."""
    if value is None:
        return EMPTY
    text = angka(value, digits)
    return f"+{text}" if Decimal(str(value)) > 0 and text.strip("0,.") else text


def tanggal_singkat(value: date) -> str:
    """27 Mei"""
    return f"{value.day} {MONTHS_SHORT_ID[value.month - 1]}"


def bulan(value: date) -> str:
    """April 2021"""
    return f"{MONTHS_ID[value.month - 1]} {value.year}"


month_label = bulan


def bulan_singkat(value: date) -> str:
    """Apr 2021"""
    return f"{MONTHS_SHORT_ID[value.month - 1]} {value.year}"

