"""The agency registry is checked when it is read (issue 13, defect 8): a value with a line
break or another control character, or an admin_email that is not one plain address, is a
RegistryError that names the file, the line and the column, before anything is written."""
from __future__ import annotations

import pytest

from lapor.registry import RegistryError, is_plain_address, load_registry
from lapor.settings import DEFAULT_REGISTRY

HEADER = "agency_code,agency_name,agency_type,sk_number,sk_date,admin_email,source,source_url\n"
GOOD = "35.05,Kabupaten Blitar,kabupaten,188/1/2020,2020-02-01,admin@blitarkab.example,folder,\n"


def registry(tmp_path, *rows: str, newline: str = "\n") -> object:
    path = tmp_path / "agencies.csv"
    path.write_bytes((HEADER + GOOD + "".join(rows)).replace("\n", newline).encode("utf-8"))
    return path


def test_the_shipped_registry_and_a_windows_saved_copy_are_read(tmp_path):
    agencies = load_registry(DEFAULT_REGISTRY)
    assert len(agencies) == 38 and all(is_plain_address(a.admin_email) for a in agencies)
    # CRLF line ends and a spreadsheet's byte-order mark are how a file saved by Excel looks: still fine
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + GOOD).replace("\n", "\r\n").encode())
    (blitar,) = load_registry(path)
    assert (blitar.agency_code, blitar.agency_name, blitar.admin_email) == (
        "35.05", "Kabupaten Blitar", "admin@blitarkab.example")


@pytest.mark.parametrize("row, line, column, what", [
    # a quoted value may hold a line break: the record starts on line 3 and is refused
    ('35.16,"Kabupaten\r\nMojokerto",kabupaten,,,admin@mojokertokab.example,folder,\n', 3, "agency_name", "CR"),
    ('35.16,"Kabupaten\nMojokerto",kabupaten,,,admin@mojokertokab.example,folder,\n', 3, "agency_name", "LF"),
    ('35.16,Kabupaten Mojokerto,kabupaten,,,"admin@mojokertokab.example\r\nBcc: x@evil.example",folder,\n',
     3, "admin_email", "CR"),
    ("35.16,Kabupaten\x00Mojokerto,kabupaten,,,admin@mojokertokab.example,folder,\n", 3, "agency_name", "NUL"),
    ("35.16,Kabupaten Mojokerto,kabupaten,188/2\t/2020,,admin@mojokertokab.example,folder,\n", 3, "sk_number", "TAB"),
    ("35.16,Kabupaten Mojokerto\x1b[31m,kabupaten,,,admin@mojokertokab.example,folder,\n", 3, "agency_name", "U+001B"),
    ("35.16,Kabupaten Mojokerto\u2028,kabupaten,,,admin@mojokertokab.example,folder,\n", 3, "agency_name", "U+2028"),
    ("35.16,Kabupaten Mojokerto\x85,kabupaten,,,admin@mojokertokab.example,folder,\n", 3, "agency_name", "U+0085"),
    # a right-to-left override: "Kabupaten \u202eotrekojoM" shows as another name
    ("35.16,Kabupaten \u202eotrekojoM,kabupaten,,,admin@mojokertokab.example,folder,\n", 3, "agency_name", "U+202E"),
])
def test_a_control_character_in_any_value_is_refused_with_file_line_and_column(tmp_path, row, line, column, what):
    path = registry(tmp_path, row)
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    message = str(raised.value)
    assert f"{path}, line {line}, column {column}: a control character ({what})" in message
    assert "\n" not in message and "\r" not in message   # the operator's one line stays one line


def test_a_record_after_a_multiline_one_is_named_by_its_own_line(tmp_path):
    path = registry(tmp_path, '35.16,"Kabupaten Mojokerto",kabupaten,,,"a@b.example",folder,\n',
                    '35.29,Kabupaten Sumenep,kabupaten,,,admin@sumenepkab,folder,\n')
    with pytest.raises(RegistryError, match=r", line 4, column admin_email: 'admin@sumenepkab' is not one plain"):
        load_registry(path)


@pytest.mark.parametrize("address", [
    "Admin Blitar <admin@blitarkab.example>",
    "admin@blitarkab.example, kepala@blitarkab.example",
    "admin@blitarkab.example;kepala@blitarkab.example",
    "admin blitar@blitarkab.example",
    "admin@blitarkab",
    "admin..lapor@blitarkab.example",
    '"admin"@blitarkab.example',
    "admin@blitarkab.example (kantor)",
    "admin@-blitarkab.example",
    "admin@blitarkab.example.",
])
def test_admin_email_must_be_one_plain_address(tmp_path, address):
    quoted = '"' + address.replace('"', '""') + '"'
    path = registry(tmp_path, f"35.16,Kabupaten Mojokerto,kabupaten,,,{quoted},folder,\n")
    with pytest.raises(RegistryError, match=r", line 3, column admin_email: .* is not one plain e-mail address"):
        load_registry(path)


def test_a_row_with_more_values_than_the_header_is_refused(tmp_path):
    # an unquoted comma in a name shifts every later column
    path = registry(tmp_path, "35.16,Kabupaten Mojokerto, Jawa Timur,kabupaten,,,admin@mojokertokab.example,folder,\n")
    with pytest.raises(RegistryError, match=r", line 3: 9 values, the header names 8"):
        load_registry(path)


def test_a_column_named_twice_in_the_header_is_refused(tmp_path):
    """A second admin_email column used to win silently: the agency's mail went to its value."""
    path = tmp_path / "agencies.csv"
    path.write_text(HEADER.rstrip("\n") + ",admin_email\n" + GOOD.rstrip("\n") + ",attacker@evil.example\n")
    with pytest.raises(RegistryError, match=r", line 1: the column\(s\) admin_email appear more than once"):
        load_registry(path)


def test_a_huge_value_is_refused_without_being_quoted(tmp_path):
    path = registry(tmp_path, f"35.16,Kabupaten {'é' * 100_000},kabupaten,,,admin@mojokertokab.example,folder,\n")
    with pytest.raises(RegistryError) as raised:
        load_registry(path)
    message = str(raised.value)
    assert ", line 3, column agency_name: 100,010 characters, more than the 1,000" in message
    assert len(message) < 500


def test_a_registry_that_is_not_utf8_is_refused_not_a_traceback(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + GOOD).encode() + "35.16,Kabupaten Mojokertö,kabupaten,,,,folder,\n".encode("latin-1"))
    with pytest.raises(RegistryError, match="not UTF-8"):
        load_registry(path)


def test_a_bad_registry_stops_the_night_before_the_registry_or_the_run_is_written(scratch, tmp_path):
    """prepare() fails on the registry: ref.agencies keeps what it had and the run is not recorded."""
    import dataclasses

    import psycopg

    from lapor import pipeline

    settings, url, _ = scratch
    path = registry(tmp_path, '35.16,"Kabupaten\r\nMojokerto",kabupaten,,,admin@mojokertokab.example,folder,\n')
    with pytest.raises(RegistryError, match="column agency_name"):
        pipeline.prepare("2021-05-27", dataclasses.replace(settings, registry_path=path))
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from ref.agencies").fetchone()[0] == 0
        assert conn.execute("select count(*) from raw.pipeline_runs").fetchone()[0] == 0


def test_a_registry_read_again_is_the_file_as_it_is_now(tmp_path):
    """A process asks for the registry once per agency: bytes already checked at a path are not
    checked again, but a change of a single byte (same size, the same instant) is read, and a
    refused file is refused every time."""
    path = registry(tmp_path)
    first = load_registry(path)
    assert load_registry(path) == first and load_registry(path) is not first
    path.write_bytes(path.read_bytes().replace(b"admin@blitarkab", b"admxn@blitarkab"))
    (blitar,) = load_registry(path)
    assert blitar.admin_email == "admxn@blitarkab.example"
    path.write_bytes(path.read_bytes().replace(b"admxn@blitarkab", b"adm\x00n@blitarkab"))
    for _ in range(2):
        with pytest.raises(RegistryError, match="NUL"):
            load_registry(path)
    path.write_bytes(path.read_bytes().replace(b"adm\x00n@blitarkab", b"admin@blitarkab"))
    assert load_registry(path) == first
