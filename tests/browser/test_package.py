"""widget/ as an npm package: ``npm pack``, installed from the tarball into an app that imports
it (type-checked against the package's .d.ts, bundled with esbuild), then run in the browser."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import rows, summary, toolbar, wait_sent

pytestmark = pytest.mark.django_db(transaction=True)

WIDGET = Path(__file__).resolve().parents[2] / "widget"
BIN = WIDGET / "node_modules" / ".bin"

APP = """\
import { create, type FeedbackLoop, type Options } from "@django-feedback-loop/widget";

declare global {
  interface Window {
    FEEDBACK: { endpoint: string; key: string };
    FeedbackLoop?: { q?: [string, unknown[]][] };
  }
}

const options: Partial<Options> = { ...window.FEEDBACK, signals: ["thumbs", "reasons"] };
const widget: FeedbackLoop = create();
// The listeners the page's loader stub holds (the browser tests' instrumentation) come first.
for (const [name, args] of window.FeedbackLoop?.q ?? [])
  if (name === "on") widget.on(...(args as Parameters<FeedbackLoop["on"]>));
widget.init(options);
"""
# The script-tag build is exported too, for apps that only want it on the page.
IIFE = 'import "@django-feedback-loop/widget/widget.js";\n'
TSCONFIG = {
    "compilerOptions": {
        "target": "es2020",
        "module": "esnext",
        "moduleResolution": "bundler",
        "lib": ["es2021", "dom", "dom.iterable"],
        "strict": True,
        "noEmit": True,
        "types": [],
    },
    "files": ["app.ts"],
}


def run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    if shutil.which("npm") is None or not (BIN / "esbuild").exists():
        message = "needs npm and widget/node_modules (cd widget && npm ci)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI runs the README's test command, which installs both
        pytest.skip(message)
    out = tmp_path_factory.mktemp("npm")
    try:
        # prepack builds widget/dist/ (not tracked), which is what the tarball holds.
        run("npm", "pack", "--silent", "--pack-destination", str(out), cwd=WIDGET)
        [tarball] = out.glob("django-feedback-loop-widget-*.tgz")
        app = out / "app"
        app.mkdir()
        (app / "package.json").write_text('{"private": true, "type": "module"}')
        run("npm", "install", "--offline", "--no-audit", "--no-fund", str(tarball), cwd=app)
        (app / "app.ts").write_text(APP)
        (app / "iife.js").write_text(IIFE)
        (app / "tsconfig.json").write_text(json.dumps(TSCONFIG))
        run(str(BIN / "tsc"), "-p", "tsconfig.json", cwd=app)  # the package's types resolve
        for entry, target in (("app.ts", "bundle.js"), ("iife.js", "iife-bundle.js")):
            run(str(BIN / "esbuild"), entry, "--bundle", "--minify", f"--outfile={target}", cwd=app)
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{' '.join(exc.cmd)} failed:\n{exc.stdout}\n{exc.stderr}")
    installed = json.loads(
        (app / "node_modules/@django-feedback-loop/widget/package.json").read_text()
    )
    assert installed["name"] == "@django-feedback-loop/widget" and "private" not in installed
    assert (app / "iife-bundle.js").stat().st_size > 1000
    return app / "bundle.js"


def test_an_app_bundled_from_the_packed_npm_package_records_feedback(page, bundle):
    page.route("**/_test/app/bundle.js", lambda route: route.fulfill(path=bundle))
    page.goto("/_test/page/bundle/?ids=bundled")
    bar = toolbar(page, "bundled")
    bar.get_by_role("button", name="Bad answer").click()
    dialog = bar.get_by_role("dialog", name="What went wrong?")
    dialog.get_by_role("button", name="Wrong format").click()
    dialog.get_by_role("button", name="Send").click()
    expect(bar.get_by_role("status")).to_have_text("Thanks!")
    wait_sent(page, 2)
    assert [summary(e) for e in rows()] == [
        ("bundled", "thumbs", -1.0, [], ""),
        ("bundled", "thumbs", -1.0, ["format"], ""),
    ]
