"""The HTTP export API source: a real ExportServer on 127.0.0.1 over a small drop folder, and
the client that must hand the loader the same files as the drop folder itself."""
from __future__ import annotations

import hashlib
import http.client
import os
import time
from datetime import date
from pathlib import Path

import pytest

from lapor.sources import list_agency_files
from lapor.dev.export_server import ExportServer
from lapor.sources.http import SourceError, fetch_agency_files, token_for

TOKEN = "s3cret-Token-4f9a"
DAY = date(2021, 5, 24)


def _write(path: Path, data: bytes, mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


@pytest.fixture
def drop(tmp_path) -> Path:
    root = tmp_path / "exports"
    now = time.time()
    for code in ("35.05", "35.78"):
        base = root / code
        _write(base / "complaints" / "2021-05-24.csv",
               f"ID Laporan;Status\n3007395;Selesai\n{code};Baru\n".encode("cp1252"))
        _write(base / "complaints" / "2021-05-21.csv", b"ID Laporan,Status\n1,Baru\n")
        _write(base / "followup" / "2021-03_2021-04-06.xlsx", bytes(range(256)) * 40)   # binary
        _write(base / "followup" / "2021-04_2021-05-05.csv", b"ID Laporan,Tanggal Tindak Lanjut\n1,05/05/2021\n")
        _write(base / "followup" / "2021-04_2021-05-24.json", b'[{"ID Laporan": 1}]')
        _write(base / "followup" / "2021-05_2021-06-07.csv", b"after the day\n")               # S > day
        _write(base / "followup" / "notes.txt", b"not a report\n")
        # not a month, or a month begun after the day named as submitted: ignored by both
        _write(base / "followup" / "0000-04_2021-05-20.csv", b"ID Laporan,Tanggal Tindak Lanjut\n1,05/05/2021\n")
        _write(base / "followup" / "9999-12_2021-05-20.csv", b"ID Laporan,Tanggal Tindak Lanjut\n1,05/05/2021\n")
    # 35.78 left two complaints files for the day: the newer one is the delivery
    _write(root / "35.78" / "complaints" / "2021-05-24.csv", b"old\n", mtime=now - 3600)
    _write(root / "35.78" / "complaints" / "2021-05-24.json", b'[{"ID Laporan": "9"}]', mtime=now)
    (tmp_path / "secret.txt").write_text("outside the drop folder")
    return root


@pytest.fixture
def server(drop):
    with ExportServer(drop, TOKEN) as srv:
        yield srv


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def _fetch(server, code, cache, **kw):
    kw.setdefault("token", TOKEN)
    kw.setdefault("sleep", Sleeps())
    return fetch_agency_files(server.url, code, DAY, cache, **kw)


def _summary(complaints, followups):
    files = ([complaints] if complaints else []) + followups
    return sorted((f.kind, f.agency_code, f.relpath, f.file_day, f.period, f.path.name) for f in files)


def _downloads(server, code):
    return [r for r in server.requests_for(code) if "/files/" in r[1]]


@pytest.mark.parametrize("code", ["35.05", "35.78"])
def test_same_files_as_the_drop_folder(server, drop, tmp_path, code):
    cache = tmp_path / "cache"
    got = _fetch(server, code, cache, per_page=2)
    want = list_agency_files(drop, code, DAY)
    assert _summary(*got) == _summary(*want)
    complaints, followups = got
    assert complaints.path == cache / code / "complaints" / complaints.path.name
    assert [f.relpath for f in followups] == [f.relpath for f in want[1]]          # same order
    assert [f.file_day for f in followups] == [date(2021, 4, 6), date(2021, 5, 5), date(2021, 5, 24)]
    for mine, theirs in zip([complaints, *followups], [want[0], *want[1]]):
        assert mine.path == cache / mine.relpath
        assert mine.path.read_bytes() == theirs.path.read_bytes()
    assert not list(cache.rglob(".download-*"))
    # three follow-up reports by the day, two per page: the listing was followed to page 2
    assert any("kind=followup" in r[1] and "page=2" in r[1] for r in server.requests_for(code))
    assert len(_downloads(server, code)) == 4

    # a second run finds everything cached and downloads nothing
    before = len(_downloads(server, code))
    assert _summary(*_fetch(server, code, cache, per_page=2)) == _summary(*want)
    assert len(_downloads(server, code)) == before


def test_stale_cached_file_is_replaced(server, drop, tmp_path):
    cache = tmp_path / "cache"
    _write(cache / "35.05" / "complaints" / "2021-05-24.csv", b"an older delivery\n")
    complaints, _ = _fetch(server, "35.05", cache)
    assert complaints.path.read_bytes() == (drop / "35.05" / "complaints" / "2021-05-24.csv").read_bytes()


def test_wrong_token_fails_at_once(server, tmp_path):
    sleeps = Sleeps()
    with pytest.raises(SourceError) as caught:
        _fetch(server, "35.05", tmp_path / "cache", token="wrong-token", sleep=sleeps)
    assert caught.value.agency_code == "35.05"
    assert "401" in str(caught.value) and "not retried" in str(caught.value)
    assert len(server.requests_for("35.05")) == 1 and sleeps == []


def test_unknown_agency_is_404_without_retries(server, tmp_path):
    with pytest.raises(SourceError, match="404"):
        _fetch(server, "35.99", tmp_path / "cache")
    assert len(server.requests_for("35.99")) == 1


def test_two_500s_then_success(server, drop, tmp_path):
    server.faults = {"35.05": ["500", "500"]}
    sleeps = Sleeps()
    got = _fetch(server, "35.05", tmp_path / "cache", sleep=sleeps)
    assert _summary(*got) == _summary(*list_agency_files(drop, "35.05", DAY))
    assert sleeps == [1.0, 2.0]


def test_timeout_then_success(server, drop, tmp_path):
    server.faults = {"35.05": ["timeout"]}
    sleeps = Sleeps()
    started = time.monotonic()
    got = _fetch(server, "35.05", tmp_path / "cache", timeout=0.5, sleep=sleeps)
    assert time.monotonic() - started < 1.5           # gave up after 0.5 s, did not wait for the answer
    assert _summary(*got) == _summary(*list_agency_files(drop, "35.05", DAY))
    assert sleeps == [1.0]


def test_dropped_connection_then_success(server, drop, tmp_path):
    server.faults = {"35.05": ["drop"]}
    sleeps = Sleeps()
    got = _fetch(server, "35.05", tmp_path / "cache", sleep=sleeps)
    assert _summary(*got) == _summary(*list_agency_files(drop, "35.05", DAY))
    assert sleeps == [1.0]


def test_500_every_time_fails_that_agency_only(server, drop, tmp_path, caplog):
    caplog.set_level("DEBUG")
    server.faults = {"35.05": "500"}
    sleeps = Sleeps()
    with pytest.raises(SourceError) as caught:
        _fetch(server, "35.05", tmp_path / "cache", retries=3, backoff=0.5, sleep=sleeps)
    error = caught.value
    assert error.agency_code == "35.05"
    assert "35.05" in str(error) and "HTTP 500" in str(error) and "4 attempt" in str(error)
    assert f"{server.url}/v1/agencies/35.05/files?kind=complaints" in str(error)
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(server.requests_for("35.05")) == 4
    assert "HTTP 500" in caplog.text and TOKEN not in caplog.text

    got = _fetch(server, "35.78", tmp_path / "cache")
    assert _summary(*got) == _summary(*list_agency_files(drop, "35.78", DAY))


def test_checksum_mismatch_is_retried_then_fails(server, drop, tmp_path):
    real = server._describe
    server._describe = lambda path: (real(path)[0], "0" * 64, real(path)[2])
    sleeps = Sleeps()
    with pytest.raises(SourceError, match="sha256") as caught:
        _fetch(server, "35.05", tmp_path / "cache", retries=2, sleep=sleeps)
    assert sleeps == [1.0, 2.0] and "3 attempt" in str(caught.value)
    assert not (tmp_path / "cache" / "35.05" / "complaints" / "2021-05-24.csv").exists()
    assert not list((tmp_path / "cache").rglob(".download-*"))


@pytest.mark.parametrize("path", [
    "/v1/agencies/35.05/files/complaints/../../../../secret.txt",
    "/v1/agencies/35.05/files/complaints/..%2F..%2F..%2F..%2Fsecret.txt",
    "/v1/agencies/35.05/files/complaints/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/v1/agencies/35.05/files/..%2F..%2F..%2F/secret.txt",
    "/v1/agencies/..%2F..%2F/files/complaints/secret.txt",
    "/v1/agencies/../files/complaints/2021-05-24.csv",
    "/v1/agencies/35.05/files/complaints/2021-05-24.csv%00.txt",
    "/v1/agencies/35.05/files/followup/notes.txt",
])
def test_path_traversal_is_404(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 404
    assert b"outside the drop folder" not in body and b"not a report" not in body


def test_download_needs_the_token(server):
    conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    try:
        conn.request("GET", "/v1/agencies/35.05/files/complaints/2021-05-24.csv")
        response = conn.getresponse()
        assert response.status == 401 and response.getheader("Content-Type") == "application/json"
        response.read()
        conn.request("GET", "/v1/agencies/35.05/files/complaints/2021-05-24.csv",
                     headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "application/octet-stream"
        assert hashlib.sha256(response.read()).hexdigest()
    finally:
        conn.close()


def test_token_for():
    env = {"LAPOR_HTTP_TOKEN": "shared", "LAPOR_HTTP_TOKEN_35_05": "own"}
    assert token_for("35.05", env) == "own"
    assert token_for("35.78", env) == "shared"
    assert token_for("35.78", {}) is None


def test_missing_token_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="LAPOR_HTTP_TOKEN_35_05"):
        fetch_agency_files("http://127.0.0.1:9", "35.05", DAY, tmp_path, token="")
