"""The HTTP export API as a source: fetch an agency's files into a local cache laid out like
the drop folder, and hand back the same `SourceFile`s as `list_agency_files`.

    fetch_agency_files(base_url, "35.05", date(2021, 5, 24), cache_dir, token=...)
      GET {base_url}/v1/agencies/35.05/files?kind=complaints&until=2021-05-24&page=1   (and further pages)
      GET {base_url}/v1/agencies/35.05/files?kind=followup&until=2021-05-24&page=1    (and further pages)
      GET {base_url}/v1/agencies/35.05/files/{kind}/{name}                              (each file not cached)
      -> cache_dir/35.05/complaints/2021-05-24.csv, cache_dir/35.05/followup/2021-05_2021-05-03.csv, ...

The server is `lapor.dev.export_server` (or anything speaking the same API). Like every
source it only fetches files; the loader reads them. The token travels only in the
`Authorization` header; it never appears in a URL, a log line or an error message.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from lapor.sources.folder import COMPLAINTS_NAME, FOLLOWUP_NAME, SourceFile, followup_dates, shown_name

log = logging.getLogger(__name__)

KINDS = ("complaints", "followup")
SHA256 = re.compile(r"[0-9a-f]{64}")  # matched whole (fullmatch)
RETRY_STATUSES = {408, 429}          # and every 5xx
NO_RETRY_STATUSES = {401, 403, 404}  # and every other 4xx
MAX_RETRY_AFTER = 300.0
MAX_PAGES = 10_000
CHUNK = 1 << 20
USER_AGENT = "lapor-jatim/0.1 (+urllib)"


class SourceError(Exception):
    """An agency's files could not be fetched; the message says what failed (never the token)."""

    def __init__(self, agency_code: str, message: str):
        super().__init__(agency_code, message)
        self.agency_code = agency_code
        self.message = message

    def __str__(self) -> str:
        return f"{self.agency_code}: {self.message}"


class _Retry(Exception):
    """A failed attempt worth repeating; the text says why."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are refused: urllib would forward the Authorization header to any host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def token_for(agency_code: str, environ=os.environ) -> str | None:
    """`LAPOR_HTTP_TOKEN_35_05` for agency 35.05, else `LAPOR_HTTP_TOKEN`, else None."""
    specific = environ.get("LAPOR_HTTP_TOKEN_" + agency_code.replace(".", "_"))
    return (specific or "").strip() or (environ.get("LAPOR_HTTP_TOKEN") or "").strip() or None


def _safe_url(url: str) -> str:
    """The URL without any user:password part (the token itself is never put in a URL)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _describe(exc: BaseException, timeout: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(reason, http.client.IncompleteRead):
        return f"connection closed after {len(reason.partial)} byte(s) of the body"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, BaseException):
        text = str(reason) or type(reason).__name__
        return f"{type(reason).__name__}: {text}" if type(reason).__name__ not in text else text
    return str(reason)


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


class _Client:
    def __init__(self, base_url: str, agency_code: str, token: str, timeout: float, retries: int,
                 backoff: float, sleep: Callable[[float], object]):
        self.base = base_url.rstrip("/")
        self.agency_code = agency_code
        self.token = token
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.sleep = sleep

    def error(self, message: str) -> SourceError:
        return SourceError(self.agency_code, message.replace(self.token, "***") if self.token else message)

    def call(self, url: str, handle: Callable[[http.client.HTTPResponse], object]):
        """GET `url` and pass the response to `handle`, retrying what is worth retrying."""
        request = urllib.request.Request(url, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json, application/octet-stream",
            "User-Agent": USER_AGENT})
        attempts = self.retries + 1
        reason = "no attempt made"
        for attempt in range(attempts):
            wait = self.backoff * 2 ** attempt
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    return handle(response)
            except urllib.error.HTTPError as exc:
                status = exc.code
                detail = self._error_detail(exc)
                exc.close()
                if status in NO_RETRY_STATUSES or (400 <= status < 500 and status not in RETRY_STATUSES) \
                        or 300 <= status < 400:
                    raise self.error(f"GET {_safe_url(url)} failed: HTTP {status} {exc.reason}{detail}"
                                     " (not retried)") from None
                reason = f"HTTP {status} {exc.reason}{detail}"
                wait = max(wait, _retry_after(exc) or 0.0)
            except _Retry as exc:
                reason = str(exc)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = _describe(exc, self.timeout)
            if attempt + 1 < attempts:
                log.warning("%s: GET %s: %s; attempt %d of %d, next in %g s", self.agency_code, _safe_url(url),
                            reason, attempt + 1, attempts, wait)
                self.sleep(wait)
        raise self.error(f"GET {_safe_url(url)} failed after {attempts} attempt(s): {reason}")

    @staticmethod
    def _error_detail(exc: urllib.error.HTTPError) -> str:
        """The server's own explanation from a JSON error body, short."""
        try:
            body = json.loads(exc.read(4096) or b"null")
        except (ValueError, OSError, http.client.HTTPException):
            return ""
        message = body.get("message") if isinstance(body, dict) else None
        return f" ({str(message)[:200]})" if message else ""

    # -- the API ---------------------------------------------------------------------------------------

    def agency_url(self, *parts: str) -> str:
        return "/".join([self.base, "v1", "agencies", quote(self.agency_code, safe=""),
                         *(quote(p, safe="") for p in parts)])

    def listing(self, kind: str, until: date, per_page: int | None) -> list[dict]:
        files: list[dict] = []
        page = 1
        for _ in range(MAX_PAGES):
            query = {"kind": kind, "until": until.isoformat(), "page": page}
            if per_page:
                query["per_page"] = per_page
            url = f"{self.agency_url('files')}?{urlencode(query)}"
            body = self.call(url, _read_json)
            if not isinstance(body, dict) or not isinstance(body.get("files"), list):
                raise self.error(f"GET {_safe_url(url)}: the answer is not a file listing")
            files.extend(body["files"])
            next_page = body.get("next_page")
            if next_page is None:
                return files
            if not isinstance(next_page, int) or next_page <= page:
                raise self.error(f"GET {_safe_url(url)}: next_page {next_page!r} does not follow page {page}")
            page = next_page
        raise self.error(f"the {kind} listing has more than {MAX_PAGES} pages")

    def download(self, kind: str, entry: dict, target: Path) -> None:
        url = self.agency_url("files", kind, entry["name"])
        target.parent.mkdir(parents=True, exist_ok=True)

        def save(response) -> None:
            digest = hashlib.sha256()
            size = 0
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := response.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if digest.hexdigest() != entry["sha256"]:
                    raise _Retry(f"the {size} byte(s) received have sha256 {digest.hexdigest()[:12]}…, "
                                 f"the listing says {entry['sha256'][:12]}…")
                os.replace(tmp_name, target)
            except BaseException:
                if os.path.exists(tmp_name):
                    os.unlink(tmp_name)
                raise

        self.call(url, save)


def _read_json(response) -> object:
    raw = response.read()
    try:
        return json.loads(raw)
    except ValueError:
        raise _Retry(f"the answer is not JSON ({len(raw)} byte(s))") from None


def _sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def fetch_agency_files(base_url: str, agency_code: str, run_date: date, cache_dir: Path, *, token: str,
                       timeout: float = 30, retries: int = 4, backoff: float = 1.0,
                       sleep: Callable[[float], object] = time.sleep,
                       per_page: int | None = None) -> tuple[SourceFile | None, list[SourceFile]]:
    """The complaints export for `run_date` (or None) and the follow-up reports submitted by then,
    downloaded into `cache_dir/<agency>/<kind>/<name>` – what `list_agency_files` returns for a folder.

    Files already in the cache with the listed sha256 are not downloaded again. A request that
    fails with HTTP 5xx/408/429, a timeout, a dropped connection or bytes that do not match the
    listing is repeated `retries` times, waiting `backoff * 2**attempt` seconds (longer if the
    server asks with Retry-After); 401/403/404 and other 4xx fail at once. Raises SourceError.
    """
    if not token:
        raise SourceError(agency_code, "no token for the export API: set LAPOR_HTTP_TOKEN_"
                          f"{agency_code.replace('.', '_')} or LAPOR_HTTP_TOKEN")
    scheme = urlsplit(base_url).scheme
    if scheme not in ("http", "https"):
        raise SourceError(agency_code, f"export API URL {_safe_url(base_url)!r} is not http(s)")
    if scheme == "http" and urlsplit(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        log.warning("%s: the export API %s is plain http; the token crosses the network unencrypted",
                    agency_code, _safe_url(base_url))
    client = _Client(base_url, agency_code, token, timeout, retries, backoff, sleep)
    base = Path(cache_dir) / agency_code

    def checked(kind: str, entries: list[dict]) -> list[dict]:
        good = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise client.error(f"the {kind} listing holds an entry without a name: {entry!r:.200}")
            name = entry["name"]
            pattern = COMPLAINTS_NAME if kind == "complaints" else FOLLOWUP_NAME
            if entry.get("kind", kind) != kind or not pattern.fullmatch(name):
                log.warning("%s: the %s listing names %r, not a %s file name; ignored",
                            agency_code, kind, name, kind)
                continue
            if not isinstance(entry.get("sha256"), str) or not SHA256.fullmatch(entry["sha256"].lower()):
                raise client.error(f"the {kind} listing gives no valid sha256 for {name}")
            good.append({**entry, "sha256": entry["sha256"].lower()})
        return good

    # The complaints export of the day: when the server holds two (D.csv and D.xlsx), the most
    # recently modified is the delivery, as in the drop folder.
    complaints = None
    candidates = [e for e in checked("complaints", client.listing("complaints", run_date, per_page))
                  if COMPLAINTS_NAME.fullmatch(e["name"])[1] == run_date.isoformat()]
    if candidates:
        entry = max(candidates, key=lambda e: (str(e.get("modified") or ""), e["name"]))
        path = _fetch(client, base, "complaints", entry)
        complaints = SourceFile("complaints", agency_code, f"{agency_code}/complaints/{entry['name']}",
                                path, run_date, None)

    followups: list[SourceFile] = []
    seen: set[str] = set()
    for entry in sorted(checked("followup", client.listing("followup", run_date, per_page)),
                        key=lambda e: e["name"]):
        dates = followup_dates(entry["name"])
        if isinstance(dates, str):
            log.warning("%s: follow-up report %s %s; ignored", agency_code, shown_name(entry["name"]), dates)
            continue
        period, submitted = dates
        if submitted > run_date or entry["name"] in seen:
            continue          # the server should not list it; the run for D sees only S <= D
        seen.add(entry["name"])
        path = _fetch(client, base, "followup", entry)
        followups.append(SourceFile("followup", agency_code, f"{agency_code}/followup/{entry['name']}",
                                    path, submitted, period))
    log.info("%s %s: export API gave %s and %d follow-up report(s)", agency_code, run_date,
             complaints.relpath if complaints else "no complaints export", len(followups))
    return complaints, followups


def _fetch(client: _Client, base: Path, kind: str, entry: dict) -> Path:
    target = base / kind / entry["name"]
    if target.is_file() and _sha256_of(target) == entry["sha256"]:
        log.debug("%s: %s/%s already cached", client.agency_code, kind, entry["name"])
        return target
    client.download(kind, entry, target)
    return target
