"""Running the web viewer in a real browser: a `tweeling serve` process and Debian's
Chromium driven by Playwright (launch flags from ../shared/ARCHITECTURE.md: software WebGL,
so MapLibre draws fill-extrusions without a GPU)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        # Never skip: scripts/test.sh installs Debian's chromium.
        pytest.fail("chromium not found: 'bash scripts/test.sh' installs Debian's chromium")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`tweeling serve` on a free port, in its own process (as a user runs it)."""

    def __init__(self, twin: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("tweeling")
        self.log = open(twin.parent / "serve.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--twin", str(twin), "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CI": "true"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/conformance", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"tweeling serve did not start: {(twin.parent / 'serve.log').read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def wait_until(page, expression: str, timeout: float = 30_000, arg=None) -> None:
    """Poll a JavaScript expression (or function, with ``arg``) until it is truthy.

    Unlike Playwright's ``wait_for_function``, which evaluates its predicate with ``eval``
    inside the page, this evaluates through the DevTools protocol: it works under the
    viewer's Content Security Policy (no 'unsafe-eval'), which the tests keep on."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression) if arg is None else page.evaluate(expression, arg)
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout / 1000:g} s waiting for {expression}")
        page.wait_for_timeout(100)
