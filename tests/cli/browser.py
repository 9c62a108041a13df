"""Headless Chromium for the ``ui`` tests: ``dump_dom`` (plain command line) and a minimal
Chrome DevTools Protocol page (over aiohttp's websocket client, a dependency of MLflow) to
wait for text, run JavaScript and take screenshots."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium() -> str | None:
    """The Chromium executable (Debian package ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def dump_dom(url: str, profile: Path, budget_ms: int = 20000, timeout: float = 120) -> str:
    """The DOM after ``budget_ms`` of virtual time (scripts run, requests answered)."""
    exe = chromium()
    assert exe, "chromium is not installed (apt-get install -y chromium)"
    out = subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
         "--window-size=1600,1000", "--dump-dom", url],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return out.stdout


class Page:
    """One browser tab, driven over the DevTools protocol."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._id = 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        await self.ws.send_str(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def eval(self, js: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=js, returnByValue=True)
        return res.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def wait_for(self, js: str, timeout: float = 60.0) -> Any:
        """Poll ``js`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with_value = await self.eval(js)
            if with_value:
                return with_value
            await asyncio.sleep(0.25)
        raise TimeoutError(f"page never satisfied: {js}")

    async def text(self) -> str:
        return str(await self.eval("document.body ? document.body.innerText : ''") or "")

    async def screenshot(self, path: Path) -> None:
        res = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(res["data"]))


@asynccontextmanager
async def open_page(profile: Path, width: int = 1600, height: int = 1000) -> AsyncIterator[Page]:
    """Start headless Chromium with a DevTools port and yield its first tab."""
    import aiohttp

    exe = chromium()
    assert exe, "chromium is not installed (apt-get install -y chromium)"
    profile.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            assert time.monotonic() < deadline and proc.poll() is None, "chromium did not start"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json()
            url = next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
            async with http.ws_connect(url, max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                await page.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width, height=height, deviceScaleFactor=1, mobile=False,
                )  # fmt: skip
                yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


#: the pages ``capture`` saves: file name -> (path after the base URL, text to wait for)
def pages(experiment_id: str, run_id: str, model_id: str, first_run: str) -> dict[str, tuple]:
    from synprune.tracking.ui_view import VIEW_KEY

    ml = "workflowType=machine_learning"
    exp = f"/#/experiments/{experiment_id}"
    run = f"{exp}/runs/{run_id}"
    view = f"{exp}/runs?{ml}&viewStateShareKey={VIEW_KEY}"
    return {
        "runs-table.png": (view, first_run, 1000),
        "runs-charts.png": (f"{view}&compareRunsMode=CHART", "val_loss", 1300),
        "run-overview.png": (f"{run}?{ml}", "Description", 1000),
        "run-metrics.png": (f"{run}/model-metrics?{ml}", "Model metrics", 1000),
        "logged-model.png": (f"{exp}/models/{model_id}?{ml}", "Metrics", 1000),
    }


async def capture(base: str, shots: dict[str, tuple], out: Path, profile: Path) -> list[Path]:
    """Screenshots of ``shots`` (see :func:`pages`) under ``out``; the MLflow Assistant panel
    (opened automatically on a browser's first visit to a local server) is kept closed."""
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, (path, wait, height) in shots.items():
        async with open_page(profile / name, 1600, height) as page:
            await page.goto(base + "/")
            await page.wait_for("document.readyState === 'complete'")
            await page.eval(
                "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true')"
            )
            await page.goto(base + path)
            await page.wait_for(f"document.body.innerText.includes({json.dumps(wait)})", 60)
            await asyncio.sleep(3)  # charts settle
            await page.screenshot(out / name)
            saved.append(out / name)
    return saved
