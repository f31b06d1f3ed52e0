"""Make the README's pictures again, from the demo, in Debian's Chromium.

    .venv/bin/python docs/screenshots.py

Starts the demo site on a throw-away SQLite database, drives it like a user and writes PNGs
into docs/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/docs.sqlite3"}
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
        subprocess.run([*manage, "demo_seed"], env=env, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        server = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/admin/login/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            shoot(base)
        finally:
            server.terminate()
            server.wait()


def shoot(base: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 560}, device_scale_factor=2)
        page.goto(base + "/")
        for question in ("What is the capital of Australia?", "Give me JSON for Ada Lovelace"):
            page.fill("input[name=question]", question)
            page.click(".ask button")
        toolbar = page.locator("[data-feedback-toolbar]").last
        toolbar.locator("[part~=down]").click()
        toolbar.locator("[part~=chip]").nth(1).click()
        toolbar.locator("textarea").fill("The JSON is wrapped in a code fence.")
        turn = page.locator(".turn").last.bounding_box()
        popover = toolbar.locator("form").bounding_box()
        # Boxes are in viewport coordinates, the clip in page coordinates.
        scroll = page.evaluate("scrollY")
        top, bottom = scroll + turn["y"] - 16, scroll + popover["y"] + popover["height"] + 16
        page.screenshot(
            path=DOCS / "widget.png",
            full_page=True,
            clip={
                "x": turn["x"] - 16,
                "y": top,
                "width": turn["width"] + 32,
                "height": bottom - top,
            },
        )
        print("wrote docs/widget.png")
        browser.close()


if __name__ == "__main__":
    main()
