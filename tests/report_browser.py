"""Headless Chromium for the report tests: installed once per session, driven over the
DevTools protocol (stdlib + `websockets`, which the lock already holds) to load a `file://`
page, collect console errors and measure what the page drew (on screen and in print), plus a
plain `--screenshot` run and a PNG reader that needs only zlib.

Debian's `chromium` package is installed when `/usr/bin/chromium` is missing (as root, with
apt-get, non-interactive); when that cannot be done the session fails with the reason.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
QUIET_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
    "--disable-dev-shm-usage",
]


def install_chromium() -> Path:
    """Chromium at CHROMIUM, installing Debian's package when missing; raises with the reason."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        raise RuntimeError(f"{CHROMIUM} is missing and the tests do not run as root, so they cannot "
                           "install it: run `apt-get install -y chromium` as root (Debian) first")
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{CHROMIUM} is missing and there is no apt-get to install Debian's `chromium` package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait_for_lock = ["-o", "DPkg::Lock::Timeout=600"]  # another apt-get may be running
    for command in (["apt-get", *wait_for_lock, "update"],
                    ["apt-get", *wait_for_lock, "install", "-y", "--no-install-recommends", "chromium",
                     "fonts-dejavu-core"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed with exit code {done.returncode} while installing "
                               f"Chromium for the report tests:\n{(done.stderr or done.stdout)[-3000:]}")
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed `chromium` but {CHROMIUM} is still missing")
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium() -> Path:
    try:
        return install_chromium()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"Headless Chromium is needed to check the report and could not be installed: {exc}",
                    pytrace=False)


# --- screenshot -------------------------------------------------------------------------------

@contextlib.contextmanager
def _profile():
    """A throw-away Chromium profile folder, removed even while Chromium's helpers still write to it."""
    folder = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    try:
        yield folder
    finally:
        for _ in range(20):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                break
            time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    """End the Chromium this module started: its own process group (browser, renderers, zygote)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for _ in range(50):  # the helpers leave the group shortly after the browser
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def screenshot(chromium: Path, url: str, png: Path, size: str = "1280,4000", timeout: float = 120) -> Path:
    with _profile() as profile:
        process = subprocess.Popen(
            [str(chromium), *QUIET_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size={size}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _, stderr = process.communicate(timeout=timeout)
        finally:
            _stop(process)
    if process.returncode != 0 or not png.exists():
        raise AssertionError(f"chromium --screenshot failed ({process.returncode}):\n{(stderr or '')[-3000:]}")
    return png


@dataclass
class Png:
    width: int
    height: int
    size_bytes: int
    distinct_colours: int       # seen in the rows decoded (decoding stops once `enough` are seen)
    rows_decoded: int
    found: list[str]            # the wanted colours seen


def read_png(path: Path, enough: int = 24, want: tuple[str, ...] = ()) -> Png:
    """Header and pixel colours of an 8-bit RGB(A) PNG, decoded with zlib (no PIL). Rows are
    unfiltered in order until `enough` distinct colours and every colour in `want` ("#0072B2")
    are seen, so a busy page is cheap and a blank one is read to the end."""
    wanted = {bytes.fromhex(c.lstrip("#")) for c in want}
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert header, f"{path} has no IHDR chunk"
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and not interlace, \
        f"{path}: unexpected PNG format (depth {depth}, colour type {colour_type}, interlace {interlace})"
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    assert len(raw) == height * (stride + 1), f"{path}: image data does not match {width}x{height}"
    previous = bytearray(stride)
    colours: set[bytes] = set()
    rows = 0
    for row in range(height):
        offset = row * (stride + 1)
        kind = raw[offset]
        line = bytearray(raw[offset + 1:offset + 1 + stride])
        if kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind in (1, 3, 4):
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up = previous[i]
                if kind == 1:
                    line[i] = (line[i] + left) & 0xFF
                elif kind == 3:
                    line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
                else:
                    corner = previous[i - bpp] if i >= bpp else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        previous = line
        rows += 1
        if len(colours) >= enough and wanted <= colours:
            break
    return Png(width, height, len(data), len(colours), rows, sorted("#" + c.hex().upper() for c in wanted & colours))


# --- DevTools protocol --------------------------------------------------------------------------

@dataclass
class PageResult:
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    value: dict = field(default_factory=dict)


_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def _wait_for_page_socket(profile: Path, process: subprocess.Popen, timeout: float) -> str:
    """The page target's DevTools websocket; Chromium picked the port (--remote-debugging-port=0)
    and wrote it to DevToolsActivePort in the profile."""
    deadline = time.monotonic() + timeout
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"chromium exited early ({process.returncode})")
        try:
            port = int(port_file.read_text().split()[0])
            with _LOCAL.open(f"http://127.0.0.1:{port}/json/list", timeout=2) as response:
                targets = json.load(response)
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.2)
    raise AssertionError("chromium's DevTools endpoint did not come up")


async def _drive(ws_url: str, url: str, expression: str, media: tuple[str, ...], timeout: float) -> PageResult:
    import websockets

    result = PageResult()
    ids = iter(range(1, 1_000_000))
    pending: dict[int, asyncio.Future] = {}
    loaded = asyncio.Event()
    async with websockets.connect(ws_url, max_size=None, proxy=None) as ws:

        async def reader():
            async for raw in ws:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in pending:
                    pending.pop(msg["id"]).set_result(msg)
                    continue
                method, params = msg.get("method"), msg.get("params", {})
                if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                    result.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                          for a in params.get("args", [])))
                elif method == "Runtime.exceptionThrown":
                    details = params.get("exceptionDetails", {})
                    result.console_errors.append(details.get("exception", {}).get("description")
                                                 or details.get("text", "exception"))
                elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                    entry = params["entry"]
                    result.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
                elif method == "Network.loadingFailed":
                    result.failed_requests.append(f"{params.get('errorText')} ({params.get('requestId')})")
                elif method == "Page.loadEventFired":
                    loaded.set()

        async def call(method: str, **params):
            n = next(ids)
            future = asyncio.get_running_loop().create_future()
            pending[n] = future
            await ws.send(json.dumps({"id": n, "method": method, "params": params}))
            reply = await asyncio.wait_for(future, timeout)
            if "error" in reply:
                raise AssertionError(f"DevTools {method}: {reply['error']}")
            return reply.get("result", {})

        task = asyncio.create_task(reader())
        try:
            for domain in ("Page", "Runtime", "Log", "Network"):
                await call(f"{domain}.enable")
            await call("Page.navigate", url=url)
            await asyncio.wait_for(loaded.wait(), timeout)
            await asyncio.sleep(0.3)  # late console messages
            result.value = {}
            for kind in media:
                await call("Emulation.setEmulatedMedia", media=kind)
                reply = await call("Runtime.evaluate", expression=expression, returnByValue=True)
                if "exceptionDetails" in reply:
                    raise AssertionError(f"evaluating the page probe failed: {reply['exceptionDetails']}")
                result.value[kind] = reply["result"].get("value")
        finally:
            task.cancel()
    return result


def inspect_page(chromium: Path, url: str, expression: str, media: tuple[str, ...] = ("screen",),
                 timeout: float = 60, window: str = "1280,4000") -> PageResult:
    """Load `url` in headless Chromium: its console errors, failed loads, and the value of the
    JavaScript `expression` under each emulated CSS media type ({"screen": ..., "print": ...})."""
    with _profile() as profile:
        process = subprocess.Popen(
            [str(chromium), *QUIET_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--remote-allow-origins=*", f"--window-size={window}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            ws_url = _wait_for_page_socket(profile, process, timeout)
            return asyncio.run(_drive(ws_url, url, expression, media, timeout))
        finally:
            _stop(process)
