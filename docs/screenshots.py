"""Make the README's pictures again, from the demo, in Debian's Chromium.

    .venv/bin/python docs/screenshots.py

Starts the demo site on a throw-away SQLite database, drives it like a user and writes PNGs
into docs/: the widget, and the admin's screens at the two common widths, with the admin's app
sidebar open as it is by default: 1280 px (queue.png, trace.png, review.png, dashboard.png,
compare.png, releases.png, agreement.png, segments.png: the README's pictures) and 1920 px
(the same names ending in -1920).
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
            # A second experiment on the regression set, to compare with the seeded one.
            subprocess.run(
                [*manage, "feedback_loop_eval", "Regression set", "--task",
                 "example_project.chat.prompts:answer_v2", "--scorer", "error_mode",
                 "--scorer", "similarity", "--baseline", "latest"],
                env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
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
        # The turn, its toolbar and the popover (above the toolbar here: below, it would cover
        # the page's input). Boxes are in viewport coordinates, the clip in page coordinates.
        boxes = [
            page.locator(".turn").last.bounding_box(),
            toolbar.bounding_box(),
            toolbar.locator("[part=popover]").bounding_box(),
        ]
        turn = boxes[0]
        scroll = page.evaluate("scrollY")
        top = scroll + min(box["y"] for box in boxes) - 16
        bottom = scroll + max(box["y"] + box["height"] for box in boxes) + 16
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
        toolbar.locator("[part~=send]").click()
        # Edit the last answer too, so the admin has a diff to show.
        last = page.locator(".turn").last
        last.locator("[data-feedback-action=edit]").click()
        content = last.locator("[data-feedback-content]")
        content.fill('{"name": "Ada Lovelace", "born": 1815}')
        page.locator("input[name=question]").click()  # leaves the edit: the widget sends it
        page.evaluate("FeedbackLoop.flush()")
        page.wait_for_timeout(500)
        for width, suffix in WIDTHS:
            curation(browser, base, width, suffix)
        browser.close()


# The admin's screens at the common widths: (width, suffix of the file names).
WIDTHS = [(1280, ""), (1920, "-1920")]


def curation(browser, base: str, width: int, suffix: str) -> None:
    """The review queue, a trace's page with its diff, review mode and the dashboard."""
    page = browser.new_page(viewport={"width": width, "height": 860}, device_scale_factor=1)
    page.goto(base + "/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")

    def shot(name: str, **options) -> None:
        path = DOCS / f"{name}{suffix}.png"
        page.screenshot(path=path, **options)
        print(f"wrote docs/{path.name}")

    admin = base + "/admin/feedback_loop/trace/"
    page.goto(admin)
    shot("queue")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector(".fl-diff")
    page.locator(".fl-diff-panel").first.scroll_into_view_if_needed()
    shot("trace", full_page=True)
    page.goto(admin + "review/")
    shot("review", full_page=True)
    page.goto(admin + "dashboard/")
    shot("dashboard", full_page=True)
    if not suffix:  # the monitoring sections alone, for the README's monitoring section
        panel = page.locator("section.fl-panel").filter(has=page.locator("h2", has_text="Releases"))
        panel.screenshot(path=DOCS / "releases.png")
        print("wrote docs/releases.png")
        page.locator("#fl-agreement").screenshot(path=DOCS / "agreement.png")
        print("wrote docs/agreement.png")
        page.goto(admin + "dashboard/?by=metadata.plan")
        page.locator("section.fl-segments").screenshot(path=DOCS / "segments.png")
        print("wrote docs/segments.png")
    page.goto(base + "/admin/feedback_loop/experiment/")
    page.locator("#result_list tbody tr th a").first.click()  # the newest
    page.get_by_role("link", name="Compare with its baseline").click()
    shot("compare", full_page=True)
    page.close()


if __name__ == "__main__":
    main()
