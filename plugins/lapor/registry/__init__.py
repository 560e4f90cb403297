"""The agency registry: the 38 kabupaten/kota of Jawa Timur, their SK, admin e-mail and source
(and, optionally, the agency head's address, `head_email`, in copy of an escalation).

Codes and names are the official Kemendagri/BPS codes of the 38 kabupaten/kota. The SK
numbers and dates and the admin addresses shipped here are sample values: replace them with
the real ones in a copy and point `LAPOR_REGISTRY` at it.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date
from email.utils import parseaddr
from pathlib import Path

CODE = re.compile(r"\A\d{2}\.\d{2}\Z")   # \Z: "35.05\n" is not a code
SOURCES = ("folder", "http")
COLUMNS = ["agency_code", "agency_name", "agency_type", "sk_number", "sk_date", "admin_email", "source", "source_url",
           "head_email"]


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
    head_email: str | None = None     # the agency head's address: in copy of an escalation

    def as_row(self) -> tuple:
        return (self.agency_code, self.agency_name, self.agency_type, self.sk_number, self.sk_date,
                self.admin_email, self.source, self.source_url, self.head_email)


# A registry value ends up in e-mail headers (the admin's address, the subject), the report
# and the warehouse: none may hold a control character (CR, LF, NUL, TAB, any other C0, DEL,
# C1) nor a Unicode line or paragraph separator.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional formatting characters: a name that holds one can display as another
# ("\u202e" turns the text after it around), in the digest, the report and a mail's subject.
BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
# The longest value a registry cell may hold: agency names, SK numbers and addresses are short,
# and a cell of megabytes would be carried into every mail and page of the agency.
MAX_VALUE_CHARS = 1000
# One plain address, local@domain, ASCII: no display name, no list, no comment, no quoting
# (an internationalized domain is written in its xn-- form).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


def is_plain_address(value: str | None) -> bool:
    """Whether `value` is one plain e-mail address, as `parseaddr` reads it too."""
    if not value or len(value) > 254 or not PLAIN_ADDRESS.fullmatch(value):
        return False
    name, address = parseaddr(value)
    return not name and address == value


def _control_name(char: str) -> str:
    return {"\r": "CR", "\n": "LF", "\x00": "NUL", "\t": "TAB"}.get(char, f"U+{ord(char):04X}")


# The registries this process has read and checked, by path: (the SHA-256 of the bytes read,
# their agencies). One process may ask for the registry once per agency (a night run by
# `lapor run`, whose tasks share the process, or the benchmark), and checking 700 addresses
# costs about 20 ms a time; hashing the file, a fraction of a millisecond.
_READ: dict[str, tuple[bytes, tuple[Agency, ...]]] = {}


def load_registry(path: Path) -> list[Agency]:
    """Read and check the registry file; errors name the file, the line and the column.

    Refused: a control character or line break in any value (a quoted CSV value may hold one),
    an admin_email that is not one plain address, a row with more values than the header.
    Bytes this process has read and checked at this path before are not checked again; a file
    that was refused is checked again every time."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read the agency registry {path}: {exc.strerror}") from exc
    digest = hashlib.sha256(data).digest()
    known = _READ.get(str(path))
    if known is not None and known[0] == digest:
        return list(known[1])
    agencies = _read_registry(path, data)
    _READ[str(path)] = (digest, tuple(agencies))
    return agencies


def _read_registry(path: Path, data: bytes) -> list[Agency]:
    # a spreadsheet's BOM is no part of a name
    handle = io.TextIOWrapper(io.BytesIO(data), newline="", encoding="utf-8-sig")
    agencies: list[Agency] = []
    with handle:
        reader = csv.reader(handle)
        line = 1
        try:
            header = next(reader, None) or []
            fields = [h.strip() for h in header]
            missing = [c for c in COLUMNS[:3] if c not in fields]
            if missing:
                raise RegistryError(f"{path}: missing column(s) {', '.join(missing)}")
            for value in header:
                if CONTROL.search(value):
                    raise RegistryError(f"{path}, line 1: the header {value!r} holds a control character")
            twice = sorted({f for f in fields if f and fields.count(f) > 1})
            if twice:
                raise RegistryError(f"{path}, line 1: the column(s) {', '.join(twice)} appear more than once "
                                    "in the header (which one holds the agency's value?)")
            seen: set[str] = set()
            while True:
                line = reader.line_num + 1                  # where the next record starts
                values = next(reader, None)
                if values is None:
                    break
                if not values or not any(v.strip() for v in values):
                    continue
                if len(values) > len(fields):
                    raise RegistryError(f"{path}, line {line}: {len(values)} values, the header names "
                                        f"{len(fields)} (a comma in an unquoted value?)")
                row = dict(zip(fields, values))
                for column, value in row.items():
                    if len(value) > MAX_VALUE_CHARS:
                        raise RegistryError(f"{path}, line {line}, column {column}: {len(value):,} characters, "
                                            f"more than the {MAX_VALUE_CHARS:,} a registry value may hold")
                    bad = CONTROL.search(value) or BIDI.search(value)
                    if bad:
                        raise RegistryError(f"{path}, line {line}, column {column}: a control character "
                                            f"({_control_name(bad.group())}) in {value!r}")
                agencies.append(_agency(path, line, seen, {c: row.get(c, "") for c in COLUMNS}))
        except csv.Error as exc:
            raise RegistryError(f"{path}, line {reader.line_num}: not a CSV file: {exc}") from None
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{path}, after line {line - 1}: not UTF-8 ({exc.reason})") from None
    if not agencies:
        raise RegistryError(f"{path}: no agencies")
    return agencies


def _agency(path: Path, line: int, seen: set[str], row: dict[str, str]) -> Agency:
    where = f"{path}, line {line}"
    code = row["agency_code"].strip()
    if not CODE.fullmatch(code):
        raise RegistryError(f"{where}, column agency_code: {code!r} is not like 35.05")
    if code in seen:
        raise RegistryError(f"{where}, column agency_code: {code} appears twice")
    seen.add(code)
    name = row["agency_name"].strip()
    if not name:
        raise RegistryError(f"{where}, column agency_name: empty")
    sk_date = row["sk_date"].strip()
    try:
        parsed = date.fromisoformat(sk_date) if sk_date else None
    except ValueError:
        raise RegistryError(f"{where}, column sk_date: {sk_date!r} is not YYYY-MM-DD") from None
    source = row["source"].strip() or "folder"
    if source not in SOURCES:
        raise RegistryError(f"{where}, column source: {source!r} is not one of {', '.join(SOURCES)}")
    if source == "http" and not row["source_url"].strip():
        raise RegistryError(f"{where}, column source_url: source http needs a source_url (the export API's address)")
    admin_email = row["admin_email"].strip() or None
    if admin_email is not None and not is_plain_address(admin_email):
        raise RegistryError(f"{where}, column admin_email: {admin_email!r} is not one plain e-mail address "
                            "(like admin@blitarkab.go.id: no name, no list)")
    head_email = row["head_email"].strip() or None
    if head_email is not None and not is_plain_address(head_email):
        raise RegistryError(f"{where}, column head_email: {head_email!r} is not one plain e-mail address "
                            "(like bupati@blitarkab.go.id: no name, no list)")
    return Agency(
        agency_code=code,
        agency_name=name,
        agency_type=row["agency_type"].strip(),
        sk_number=row["sk_number"].strip() or None,
        sk_date=parsed,
        admin_email=admin_email,
        source=source,
        source_url=row["source_url"].strip() or None,
        head_email=head_email,
    )
