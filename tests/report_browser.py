"""Headless Chromium for the report tests: installed once per session, driven over the
DevTools protocol (stdlib + `websockets`, both in the lock) to load a `file://` page, collect
console errors and measure what the page drew, plus a plain `--screenshot` run.

Debian's `chromium` package is installed when `/usr/bin/chromium` is missing (as root, with
apt-get, non-interactive); when that cannot be done the session fails with the reason.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("LAPOR_TEST_CHROMIUM", "/usr/bin/chromium"))
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
    for command in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-dejavu-core"]):
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

def screenshot(chromium: Path, url: str, png: Path, size: str = "1280,4000", timeout: float = 120) -> Path:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [str(chromium), *QUIET_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size={size}", url],
            capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not png.exists():
        raise AssertionError(f"chromium --screenshot failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return png


@dataclass
class Png:
    width: int
    height: int
    distinct_colours: int
    size_bytes: int


def read_png(path: Path) -> Png:
    """Width, height and the number of distinct pixel values of an 8-bit RGB(A) PNG (no PIL)."""
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
    assert header, f"{path} has no IHDR"
    width, height, depth, colour_type = header[:4]
    assert depth == 8 and colour_type in (2, 6), f"{path}: unexpected PNG format (depth {depth}, type {colour_type})"
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    previous = bytearray(stride)
    colours: set[bytes] = set()
    offset = 0
    for _ in range(height):
        kind = raw[offset]
        line = bytearray(raw[offset + 1:offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                corner = previous[i - bpp] if i >= bpp else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        if len(colours) < 64:
            colours.update(bytes(line[i:i + bpp]) for i in range(0, stride, bpp * 7))
        previous = line
    return Png(width, height, len(colours), len(data))


# --- DevTools protocol --------------------------------------------------------------------------

@dataclass
class PageResult:
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    value: object = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_page_socket(port: int, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"chromium exited early ({process.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as response:
                targets = json.load(response)
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("chromium's DevTools endpoint did not come up")


async def _drive(ws_url: str, url: str, expression: str, timeout: float) -> PageResult:
    import websockets

    result = PageResult()
    ids = iter(range(1, 1_000_000))
    pending: dict[int, asyncio.Future] = {}
    loaded = asyncio.Event()
    async with websockets.connect(ws_url, max_size=None) as ws:

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
            reply = await call("Runtime.evaluate", expression=expression, returnByValue=True)
            if "exceptionDetails" in reply:
                raise AssertionError(f"evaluating the page probe failed: {reply['exceptionDetails']}")
            result.value = reply["result"].get("value")
        finally:
            task.cancel()
    return result


def inspect_page(chromium: Path, url: str, expression: str, timeout: float = 60,
                 window: str = "1280,4000") -> PageResult:
    """Load `url` in headless Chromium; console errors, failed loads and the value of `expression`."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = subprocess.Popen(
            [str(chromium), *QUIET_FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
             "--remote-allow-origins=*", f"--window-size={window}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ws_url = _wait_for_page_socket(port, process, timeout)
            return asyncio.run(_drive(ws_url, url, expression, timeout))
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def dump_dom(chromium: Path, url: str, timeout: float = 120) -> tuple[str, str]:
    """(DOM after load, chromium's stderr log) from `--dump-dom --enable-logging=stderr`."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [str(chromium), *QUIET_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"chromium --dump-dom failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout, done.stderr
