"""Headless Chromium on Superset's dashboards, for tests/test_superset.py: logged in with the
session cookie of a web login, each dashboard opened, waited for until every chart holder has
drawn (or failed), then what each chart shows (an SVG/canvas/table, an error) and a screenshot.

Chromium itself (install, profile, process group, DevTools socket) comes from report_browser.
"""
from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path

from report_browser import QUIET_FLAGS, _profile, _stop, _wait_for_page_socket

# What every chart holder of the dashboard shows; a chart counts as done when it drew
# something (an svg or canvas of ECharts, a table, a big number) or shows an error.
PROBE = r"""
(() => {
  const charts = [...document.querySelectorAll('[data-test="chart-grid-component"]')];
  return {
    url: location.pathname,
    title: document.title,
    charts: charts.map(c => {
      const error = c.querySelector('[data-test="error-message"], [data-test="error-tooltip"], .alert-danger, .ant-alert-error, [role="alert"]');
      const loading = c.querySelector('[data-test="loading-indicator"], .loading, [aria-label="Loading"]');
      const drawn = c.querySelector('[data-test="chart-container"] canvas, [data-test="chart-container"] svg, table, .header-line, .pvtTable, .superset-legacy-chart-big-number');
      return {id: Number(c.getAttribute('data-test-chart-id')), viz: c.getAttribute('data-test-viz-type'),
              name: c.getAttribute('data-test-chart-name'),
              error: error ? error.innerText.trim().slice(0, 500) || 'error' : null,
              loading: !!loading, drawn: !!drawn, text: c.innerText.trim().slice(0, 2000)};
    }),
    markdown: [...document.querySelectorAll('.dashboard-markdown')].map(m => m.innerText.trim().slice(0, 1000)),
    toasts: [...document.querySelectorAll('.toast--danger, [data-test="toast-container"] .ant-alert-error')].map(t => t.innerText.trim()).filter(Boolean),
  };
})()
"""


async def _dashboards(ws_url: str, base: str, cookie: dict, slugs: list[str], out: Path, timeout: float) -> dict:
    import websockets

    ids = iter(range(1, 1_000_000))
    pending: dict[int, asyncio.Future] = {}
    errors: list[str] = []
    results: dict[str, dict] = {}
    async with websockets.connect(ws_url, max_size=None, proxy=None) as ws:

        async def reader():
            async for raw in ws:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in pending:
                    pending.pop(msg["id"]).set_result(msg)
                elif msg.get("method") == "Runtime.exceptionThrown":
                    details = msg["params"].get("exceptionDetails", {})
                    errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))

        async def call(method: str, **params):
            n = next(ids)
            future = asyncio.get_running_loop().create_future()
            pending[n] = future
            await ws.send(json.dumps({"id": n, "method": method, "params": params}))
            reply = await asyncio.wait_for(future, 60)
            if "error" in reply:
                raise AssertionError(f"DevTools {method}: {reply['error']}")
            return reply.get("result", {})

        task = asyncio.create_task(reader())
        try:
            for domain in ("Page", "Runtime", "Network"):
                await call(f"{domain}.enable")
            await call("Network.setCookie", url=base + "/", **cookie)
            for slug in slugs:
                errors.clear()
                await call("Page.navigate", url=f"{base}/superset/dashboard/{slug}/")
                deadline = time.monotonic() + timeout
                state: dict = {}
                settled_since = None
                while time.monotonic() < deadline:
                    await asyncio.sleep(1)
                    reply = await call("Runtime.evaluate", expression=PROBE, returnByValue=True)
                    state = reply.get("result", {}).get("value") or {}
                    charts = state.get("charts", [])
                    done = charts and all((c["drawn"] or c["error"]) and not c["loading"] for c in charts)
                    if done:
                        settled_since = settled_since or time.monotonic()
                        if time.monotonic() - settled_since >= 2:  # late errors and redraws
                            break
                    else:
                        settled_since = None
                # the whole dashboard in one picture: a viewport as tall as the page, then a pause
                # for the charts to redraw at that size
                metrics = await call("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics.get("contentSize")
                height = int(min(max(size["height"], 1200), 6000))
                await call("Emulation.setDeviceMetricsOverride", width=1600, height=height, deviceScaleFactor=1,
                           mobile=False)
                await asyncio.sleep(3)
                shot = await call("Page.captureScreenshot", format="png")
                await call("Emulation.clearDeviceMetricsOverride")
                png = out / f"{slug}.png"
                png.write_bytes(base64.b64decode(shot["data"]))
                state["screenshot"] = str(png)
                state["exceptions"] = list(errors)
                results[slug] = state
        finally:
            task.cancel()
    return results


def open_dashboards(chromium: Path, base: str, cookie: dict, slugs: list[str], out: Path,
                    timeout: float = 120) -> dict[str, dict]:
    """{slug: {charts: [{id, viz, name, error, loading, drawn, text}], markdown, screenshot, exceptions, ...}} for each dashboard, logged in with
    `cookie` ({"name", "value"}), screenshots written to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with _profile() as profile:
        process = subprocess.Popen(
            [str(chromium), *QUIET_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--remote-allow-origins=*", "--window-size=1600,2400", "--lang=id-ID", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            ws_url = _wait_for_page_socket(profile, process, 60)
            return asyncio.run(_dashboards(ws_url, base, cookie, slugs, out, timeout))
        finally:
            _stop(process)
