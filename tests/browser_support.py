"""Running the web viewer in a real browser: a `tweeling serve` process and Debian's
Chromium driven by Playwright (launch flags from ../shared/ARCHITECTURE.md: software WebGL,
so MapLibre draws fill-extrusions without a GPU)."""

from __future__ import annotations

import contextlib
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


# ---------------------------------------------------------------------------- people

# Known passwords for the demo's accounts on a test's copy (the demo generates them).
PASSWORDS = {name: f"browser-test-{name}-2024" for name in ("beheer", "planner", "anna", "bram")}


def set_passwords(twin: Path, passwords: dict[str, str] | None = None) -> None:
    """Give the accounts of a demo copy known passwords, as an administrator would with
    ``tweeling user password NAME --password-stdin``."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    with open_workspace(twin) as ws:
        for name, password in (passwords or PASSWORDS).items():
            accounts.set_password(ws.store, name, password)


@contextlib.contextmanager
def api_client(url: str, username: str | None = None, password: str | None = None):
    """An HTTP client of the twin, signed in as ``username`` (session cookie, and the CSRF
    token sent with every change as a browser does) or anonymous."""
    with httpx.Client(base_url=url, timeout=60) as client:
        if username is not None:
            r = client.post(
                "/auth/login",
                json={"username": username, "password": password or PASSWORDS[username]},
            )
            r.raise_for_status()
            client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield client


def sign_in(page, username: str, password: str | None = None) -> None:
    """Sign in through the viewer's own dialog, as a person does, and wait until the viewer
    shows what this person may see."""
    page.locator("#sign-in-open").click()
    page.locator("#username").fill(username)
    page.locator("#password").fill(password or PASSWORDS[username])
    # the password can be shown to check it (ASVS V2.1.12), and is hidden again
    page.locator("#show-password").check()
    assert page.locator("#password").get_attribute("type") == "text"
    page.locator("#show-password").uncheck()
    assert page.locator("#password").get_attribute("type") == "password"
    page.locator("#sign-in-submit").click()
    wait_until(page, "(u) => document.body.dataset.shownFor === u", arg=username)


def sign_out(page) -> None:
    page.locator("#sign-out").click()
    wait_until(page, "document.body.dataset.shownFor === ''")
