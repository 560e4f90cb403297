"""Numbers and dates the Indonesian way, for the report's templates and charts.

`angka` keeps the digest's `lapor.alerts.compose.angka` behaviour (1.234 for whole numbers,
1.234,5 otherwise) and adds a number of decimals and an empty value ("–").
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from lapor.alerts.compose import MONTHS_ID, tanggal

MONTHS_SHORT_ID = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
EMPTY = "–"

__all__ = ["angka", "persen", "selisih", "tanggal", "tanggal_singkat", "bulan", "bulan_singkat", "EMPTY"]


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


def bulan_singkat(value: date) -> str:
    """Apr 2021"""
    return f"{MONTHS_SHORT_ID[value.month - 1]} {value.year}"

