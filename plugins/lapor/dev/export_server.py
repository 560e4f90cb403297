"""A small HTTP export API that serves a drop folder (docs/inputs.md) – for the demo and the tests.

    GET /v1/agencies/{code}/files?kind=complaints|followup&until=YYYY-MM-DD&page=N&per_page=M
        -> {"files": [{"name", "kind", "size", "sha256", "modified"}], "page": N, "next_page": N+1 | null}
           complaints: the file(s) named <until>.<ext>; followup: every <YYYY-MM>_<S>.<ext> with S <= until.
           Sorted by name; per_page defaults to 50 (at most 1000).
    GET /v1/agencies/{code}/files/{kind}/{name}
        -> the file's bytes (application/octet-stream)

Every request needs `Authorization: Bearer <token>` (401 otherwise). An unknown agency or file
is 404; agency codes, kinds and file names are checked against strict patterns, so nothing
outside the drop folder can be named. It only serves files; it never reads their content.

Run it: `python -m lapor.dev.export_server --root DIR --port P --token T`
(or leave out --token and set LAPOR_HTTP_TOKEN, which keeps it out of the process list).

Tests inject faults per agency: `server.faults = {"35.05": ["500", "timeout", "drop"]}` makes
the next three requests for 35.05 answer HTTP 500, answer only after `timeout_delay` seconds,
and close the connection without answering; one entry is used per request.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import threading
from datetime import date, datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from lapor.sources.folder import COMPLAINTS_NAME, FOLLOWUP_NAME

log = logging.getLogger(__name__)

KINDS = ("complaints", "followup")
AGENCY_CODE = re.compile(r"^\d{2}\.\d{2}\Z")
LISTING_PATH = re.compile(r"^/v1/agencies/([^/]+)/files/?\Z")
FILE_PATH = re.compile(r"^/v1/agencies/([^/]+)/files/([^/]+)/([^/]+)\Z")
AGENCY_PREFIX = re.compile(r"^/v1/agencies/([^/]+)(?:/|$)")
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000
CHUNK = 1 << 16


def _valid_name(kind: str, name: str) -> bool:
    pattern = COMPLAINTS_NAME if kind == "complaints" else FOLLOWUP_NAME if kind == "followup" else None
    return bool(pattern and pattern.fullmatch(name))


def _followup_day(name: str) -> date | None:
    match = FOLLOWUP_NAME.fullmatch(name)
    if not match or not 1 <= int(match[2]) <= 12:
        return None
    try:
        return date.fromisoformat(match[3])
    except ValueError:
        return None


class _ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    server_version = "lapor-export-server/1"
    protocol_version = "HTTP/1.0"     # one request per connection: simple and plenty for exports

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):  # noqa: N802 - the stdlib's name
        export = self.server.export
        path = urlsplit(self.path).path
        agency = AGENCY_PREFIX.match(path)
        export._record(self.command, self.path, unquote(agency[1]) if agency else None)
        try:
            if agency and self._inject_fault(unquote(agency[1])):
                return
            self._authorize()
            if match := LISTING_PATH.match(path):
                self._listing(unquote(match[1]))
            elif match := FILE_PATH.match(path):
                self._file(unquote(match[1]), unquote(match[2]), unquote(match[3]))
            else:
                raise _ApiError(HTTPStatus.NOT_FOUND, "no such resource")
        except _ApiError as exc:
            self._json(exc.status, {"error": exc.status.phrase.lower(), "message": exc.message},
                       {"WWW-Authenticate": 'Bearer realm="lapor-export"'}
                       if exc.status == HTTPStatus.UNAUTHORIZED else None)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- pieces ------------------------------------------------------------------------------------

    def _inject_fault(self, agency_code: str) -> bool:
        """Apply the next injected fault for this agency; True when the request is answered."""
        fault = self.server.export._next_fault(agency_code)
        if fault is None:
            return False
        if fault == "500":
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal server error",
                                                          "message": "injected fault"})
            return True
        if fault == "drop":
            self.close_connection = True
            return True
        if fault == "timeout":
            self.server.export._stopping.wait(self.server.export.timeout_delay)
            return False   # then answer as usual, too late for the client
        raise ValueError(f"unknown injected fault {fault!r}")

    def _authorize(self) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, given = header.partition(" ")
        expected = self.server.export.token
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise _ApiError(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")

    def _agency_dir(self, agency_code: str) -> Path:
        root = self.server.export.root
        if not AGENCY_CODE.match(agency_code) or not (root / agency_code).is_dir():
            raise _ApiError(HTTPStatus.NOT_FOUND, f"unknown agency {agency_code!r}")
        return root / agency_code

    def _listing(self, agency_code: str) -> None:
        folder = self._agency_dir(agency_code)
        query = parse_qs(urlsplit(self.path).query)

        def one(name: str, default: str | None = None) -> str:
            values = query.get(name)
            if not values:
                if default is None:
                    raise _ApiError(HTTPStatus.BAD_REQUEST, f"query parameter {name} is required")
                return default
            return values[-1]

        kind = one("kind")
        if kind not in KINDS:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "kind must be complaints or followup")
        try:
            until = date.fromisoformat(one("until"))
        except ValueError:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "until must be a date as YYYY-MM-DD") from None
        try:
            page = int(one("page", "1"))
            per_page = int(one("per_page", str(self.server.export.default_per_page)))
        except ValueError:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "page and per_page must be whole numbers") from None
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise _ApiError(HTTPStatus.BAD_REQUEST, f"page must be >= 1 and per_page 1..{MAX_PER_PAGE}")

        names: list[str] = []
        kind_dir = folder / kind
        if kind_dir.is_dir():
            for path in kind_dir.iterdir():
                if not path.is_file() or not _valid_name(kind, path.name):
                    continue
                if kind == "complaints":
                    if COMPLAINTS_NAME.fullmatch(path.name)[1] == until.isoformat():
                        names.append(path.name)
                else:
                    submitted = _followup_day(path.name)
                    if submitted is not None and submitted <= until:
                        names.append(path.name)
        names.sort()
        start = (page - 1) * per_page
        chosen = names[start:start + per_page]
        files = []
        for name in chosen:
            path = kind_dir / name
            try:
                size, sha, mtime_ns = self.server.export._describe(path)
            except FileNotFoundError:
                continue      # removed while listing
            files.append({"name": name, "kind": kind, "size": size, "sha256": sha,
                          "modified": datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc)
                          .isoformat(timespec="microseconds")})
        self._json(HTTPStatus.OK, {"files": files, "page": page,
                                   "next_page": page + 1 if start + per_page < len(names) else None})

    def _file(self, agency_code: str, kind: str, name: str) -> None:
        folder = self._agency_dir(agency_code)
        if kind not in KINDS or not _valid_name(kind, name):
            raise _ApiError(HTTPStatus.NOT_FOUND, "no such file")
        path = folder / kind / name
        root = self.server.export.root.resolve()
        try:
            resolved = path.resolve(strict=True)
            handle = open(resolved, "rb") if resolved.is_relative_to(root) and resolved.is_file() else None
        except OSError:
            handle = None
        if handle is None:
            raise _ApiError(HTTPStatus.NOT_FOUND, "no such file")
        with handle:
            size = os.fstat(handle.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
            self.end_headers()
            while chunk := handle.read(CHUNK):
                self.wfile.write(chunk)

    def _json(self, status: HTTPStatus, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    export: "ExportServer"


class ExportServer:
    """The export API over `root` (a drop folder). Use as a context manager, or start()/stop().

    `faults`: {agency_code: ["500" | "timeout" | "drop", ...]}, one entry used per request for
    that agency (a plain string instead of a list applies to every request).
    `requests`: (method, path with query, agency_code) of every request received.
    """

    def __init__(self, root: Path, token: str, host: str = "127.0.0.1", port: int = 0, *,
                 default_per_page: int = DEFAULT_PER_PAGE, timeout_delay: float = 2.0):
        if not token:
            raise ValueError("the export server needs a token")
        self.root = Path(root)
        self.token = token
        self.host = host
        self.port = port
        self.default_per_page = default_per_page
        self.timeout_delay = timeout_delay
        self.faults: dict[str, list[str] | str] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._digests: dict[tuple[str, int, int], str] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the export server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ExportServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.export = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="lapor-export-server", daemon=True)
        self._thread.start()
        log.info("export server for %s at %s", self.root, self.url)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()            # wakes handlers sleeping on a "timeout" fault
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "ExportServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def requests_for(self, agency_code: str) -> list[tuple[str, str, str | None]]:
        with self._lock:
            return [r for r in self.requests if r[2] == agency_code]

    # -- used by the handler -------------------------------------------------------------------------

    def _record(self, method: str, path: str, agency_code: str | None) -> None:
        with self._lock:
            self.requests.append((method, path, agency_code))

    def _next_fault(self, agency_code: str) -> str | None:
        with self._lock:
            queue = self.faults.get(agency_code)
            if isinstance(queue, str):
                return queue
            return queue.pop(0) if queue else None

    def _describe(self, path: Path) -> tuple[int, str, int]:
        """(size, sha256, mtime_ns), the digest cached while the file is unchanged."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            sha = self._digests.get(key)
        if sha is None:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            sha = digest.hexdigest()
            with self._lock:
                self._digests[key] = sha
        return stat.st_size, sha, stat.st_mtime_ns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lapor.dev.export_server",
                                     description="Serve a LAPOR! drop folder over the HTTP export API.")
    parser.add_argument("--root", required=True, type=Path, help="the drop folder (<root>/<agency>/...)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=None, help="bearer token (default: $LAPOR_HTTP_TOKEN)")
    args = parser.parse_args(argv)
    token = args.token or os.environ.get("LAPOR_HTTP_TOKEN")
    if not token:
        parser.error("give --token or set LAPOR_HTTP_TOKEN")
    if not args.root.is_dir():
        parser.error(f"--root {args.root}: not a folder")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = ExportServer(args.root, token, args.host, args.port).start()
    print(f"serving {args.root} at {server.url} (Ctrl-C to stop)", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
