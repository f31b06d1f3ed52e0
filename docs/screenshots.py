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
        popover = toolbar.locator("[part=popover]").bounding_box()
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
        # Edit the last answer too, so the admin has a diff to show.
        last = page.locator(".turn").last
        last.locator("[data-feedback-action=edit]").click()
        content = last.locator("[data-feedback-content]")
        content.fill('{"name": "Ada Lovelace", "born": 1815}')
        page.locator("input[name=question]").click()  # leaves the edit: the widget sends it
        page.evaluate("FeedbackLoop.flush()")
        page.wait_for_timeout(500)
        curation(browser, base)
        browser.close()


def curation(browser, base: str) -> None:
    """The review queue, a trace's page with its diff, review mode and the dashboard."""
    page = browser.new_page(viewport={"width": 1440, "height": 860}, device_scale_factor=1)
    page.goto(base + "/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")
    # The admin's app sidebar takes room the queue needs in a picture.
    page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    admin = base + "/admin/feedback_loop/trace/"
    page.goto(admin)
    page.screenshot(path=DOCS / "queue.png")
    print("wrote docs/queue.png")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector(".fl-diff")
    page.locator(".fl-diff-panel").first.scroll_into_view_if_needed()
    page.screenshot(path=DOCS / "trace.png", full_page=True)
    print("wrote docs/trace.png")
    page.goto(admin + "review/")
    page.screenshot(path=DOCS / "review.png", full_page=True)
    print("wrote docs/review.png")
    page.goto(admin + "dashboard/")
    page.screenshot(path=DOCS / "dashboard.png", full_page=True)
    print("wrote docs/dashboard.png")


if __name__ == "__main__":
    main()
