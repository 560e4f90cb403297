"""The agency registry: the 38 kabupaten/kota of Jawa Timur, their SK, admin e-mail and source.

Codes and names come from `shared/data/jatim_agencies.csv` (Kemendagri/BPS codes). The SK
numbers and dates and the admin addresses shipped here are sample values: replace them with
the real ones in a copy and point `LAPOR_REGISTRY` at it.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

CODE = re.compile(r"^\d{2}\.\d{2}$")
SOURCES = ("folder", "http")
COLUMNS = ["agency_code", "agency_name", "agency_type", "sk_number", "sk_date", "admin_email", "source", "source_url"]


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class Agency:
    agency_code: str
    agency_name: str
    agency_type: str
    sk_number: str | None
    sk_date: date | None
    admin_email: str | None
    source: str = "folder"
    source_url: str | None = None

    def as_row(self) -> tuple:
        return (self.agency_code, self.agency_name, self.agency_type, self.sk_number, self.sk_date,
                self.admin_email, self.source, self.source_url)


def load_registry(path: Path) -> list[Agency]:
    """Read and check the registry file; errors name the file and the line."""
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read the agency registry {path}: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS[:3] if c not in (reader.fieldnames or [])]
        if missing:
            raise RegistryError(f"{path}: missing column(s) {', '.join(missing)}")
        agencies: list[Agency] = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            code = (row.get("agency_code") or "").strip()
            if not CODE.match(code):
                raise RegistryError(f"{path}, line {line}: agency_code {code!r} is not like 35.05")
            if code in seen:
                raise RegistryError(f"{path}, line {line}: agency_code {code} appears twice")
            seen.add(code)
            sk_date = (row.get("sk_date") or "").strip()
            try:
                parsed = date.fromisoformat(sk_date) if sk_date else None
            except ValueError:
                raise RegistryError(f"{path}, line {line}: sk_date {sk_date!r} is not YYYY-MM-DD") from None
            source = (row.get("source") or "folder").strip() or "folder"
            if source not in SOURCES:
                raise RegistryError(f"{path}, line {line}: source {source!r} is not one of {', '.join(SOURCES)}")
            if source == "http" and not (row.get("source_url") or "").strip():
                raise RegistryError(f"{path}, line {line}: source http needs a source_url (the export API's address)")
            agencies.append(Agency(
                agency_code=code,
                agency_name=row["agency_name"].strip(),
                agency_type=row["agency_type"].strip(),
                sk_number=(row.get("sk_number") or "").strip() or None,
                sk_date=parsed,
                admin_email=(row.get("admin_email") or "").strip() or None,
                source=source,
                source_url=(row.get("source_url") or "").strip() or None,
            ))
    if not agencies:
        raise RegistryError(f"{path}: no agencies")
    return agencies
