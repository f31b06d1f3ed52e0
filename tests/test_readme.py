"""The README, followed as a new user follows it: from the wheel to the first processed event.

A fresh virtualenv gets only the wheel and what the README's install line names (no dev
extras); ``django-admin startproject`` makes a brand-new site; the README's own code blocks (those
marked ``<!-- readme-test: NAME -->``) are applied to it as they are, with only their
placeholders filled in (the public and secret keys, the broker's and the site's addresses).
The site runs under gunicorn with DEBUG off, on a fresh PostgreSQL database and a private Redis,
with a Celery worker; Chromium votes and edits on a chat page served from a second origin and on
the site's own page. A README change that breaks the path breaks this test.

Then once more on Python 3.13 with the newest Django 6.x: migrate, capture, the admin pages.
Both run in the PostgreSQL run of the suite (they need a PostgreSQL server).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
import uuid
from glob import glob
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from django.db import connection

from tests.services import ROOT, RedisServer, free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.readme, pytest.mark.timeout(900)]

README = ROOT / "README.md"
MARKED = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```\w*\n(.*?)```", re.S)
BLOCKS = {
    "install", "settings", "urls", "celery", "celery-init", "celery-settings", "project",
    "record", "template", "register", "other-origin", "static", "serve", "demo-event",
    "demo-export", "demo-eval", "demo-proof",
}  # fmt: skip
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip


def blocks() -> dict[str, str]:
    return dict(MARKED.findall(README.read_text()))


def test_the_readme_marks_every_step_the_test_follows():
    assert set(blocks()) == BLOCKS


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (built,) = out.glob("django_feedback_loop-*.whl")
    return built


def _server() -> str:
    settings = connection.settings_dict
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{settings['USER']}@{host}:{port}"


def postgres_url(name: str) -> str:
    """A new, empty database beside the test database."""
    import psycopg

    with psycopg.connect(f"{_server()}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{_server()}/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{_server()}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Site:
    """A brand-new Django site in ``folder``, in a virtualenv of its own made by ``python``."""

    def __init__(self, folder: Path, python: str, wheel: Path):
        self.folder = folder
        self.venv = folder / "venv"
        self.dir = folder / "site"
        self.wheel = wheel
        self.python = python
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[tuple[subprocess.Popen, Path]] = []
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DATABASE_URL", "CELERY_", "VIRTUAL_ENV"))
        }
        self.env["PATH"] = f"{self.venv / 'bin'}:{os.environ['PATH']}"

    def sh(self, command: str, **kwargs) -> str:
        """A README line, in the site's folder with the site's virtualenv first on the PATH."""
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command], cwd=kwargs.pop("cwd", self.dir),
            env=self.env, capture_output=True, text=True, timeout=kwargs.pop("timeout", 600),
        )  # fmt: skip
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def install(self) -> None:
        subprocess.run([self.python, "-m", "venv", str(self.venv)], check=True)
        (install,) = [line for line in blocks()["install"].splitlines() if line.startswith("pip ")]
        named = re.search(r"dist/(django_feedback_loop-\S+?\.whl)", install).group(1)
        assert named == self.wheel.name, "the README's install line names another wheel"
        self.folder.joinpath("dist").mkdir(exist_ok=True)
        self.folder.joinpath("dist", self.wheel.name).write_bytes(self.wheel.read_bytes())
        self.sh(f"{install} --quiet --progress-bar off", cwd=self.folder)
        self.dir.mkdir()
        self.sh("django-admin startproject proj .")

    def apply(self, database_url: str, broker_url: str) -> None:
        """The README's settings, URLs and Celery files; then the site's own production
        settings (not the README's business: DEBUG off, its hosts, its database)."""
        readme = blocks()
        proj = self.dir / "proj"
        settings = proj / "settings.py"
        extra = [
            readme["settings"],
            readme["celery-settings"].replace("redis://127.0.0.1:6379/0", broker_url),
            readme["static"],
            textwrap.dedent(f"""
                # The site's own production settings.
                DEBUG = False
                ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
                SECRET_KEY = {uuid.uuid4().hex * 2!r}
                DATABASES = {{"default": {{
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": {database_url.rsplit("/", 1)[1]!r},
                    "USER": "postgres", "HOST": "127.0.0.1", "PORT": 5432,
                }}}}
                TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]
                LOGGING = {{
                    "version": 1,
                    "handlers": {{"console": {{"class": "logging.StreamHandler"}}}},
                    "loggers": {{"feedback_loop": {{"handlers": ["console"], "level": "WARNING"}}}},
                }}
            """),
        ]  # fmt: skip
        settings.write_text(settings.read_text() + "\n" + "\n".join(extra))
        urls = proj / "urls.py"
        urls.write_text(urls.read_text() + "\n" + readme["urls"])
        (proj / "celery.py").write_text(readme["celery"])
        (proj / "__init__.py").write_text(readme["celery-init"])

    def manage(self, *args: str) -> str:
        return self.sh(shlex.join(["python", "manage.py", *args]))

    def create_project(self, origin: str) -> tuple[str, str]:
        """The README's migrate and create-project lines; returns (public key, secret key)."""
        out = ""
        for line in blocks()["project"].splitlines():
            if line.startswith("python manage.py"):
                out += self.sh(line.replace("https://chat.example.com", origin))
        public = re.search(r"public key: (pk_\S+)", out).group(1)
        secret = re.search(r"secret key: (sk_\S+)", out).group(1)
        settings = self.dir / "proj" / "settings.py"
        settings.write_text(settings.read_text().replace('"pk_..."', repr(public)))
        return public, secret

    def add_chat_page(self, public_key: str) -> None:
        """The site's own chat page: a view that records its answer with the README's
        record_trace call and renders the README's template."""
        record = textwrap.indent(blocks()["record"].replace('"pk_..."', repr(public_key)), "    ")
        (self.dir / "proj" / "chat.py").write_text(
            "import uuid\n\nfrom django.shortcuts import render\n\n\n"
            "def chat(request):\n"
            "    request.session.save()\n"
            "    question = 'What is the capital of Australia?'\n"
            "    history = [{'role': 'system', 'content': 'Answer in one word.'},\n"
            "               {'role': 'user', 'content': question}]\n"
            "    answer = 'Canberra.'\n"
            "    trace_id = 'own-' + uuid.uuid4().hex\n"
            f"{record}\n"
            "    return render(request, 'chat.html', {'trace_id': trace_id, 'answer': answer})\n"
        )
        (self.dir / "templates").mkdir()
        (self.dir / "templates" / "chat.html").write_text(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Chat</title>'
            f"</head><body><main>\n{blocks()['template']}\n</main></body></html>\n"
        )
        urls = self.dir / "proj" / "urls.py"
        urls.write_text(
            urls.read_text() + "\nfrom proj.chat import chat\n\n"
            'urlpatterns += [path("chat/", chat)]\n'
        )

    def serve(self) -> None:
        """The README's serve lines: collectstatic, gunicorn, a worker and beat."""
        for line in blocks()["serve"].splitlines():
            command = line.split("#")[0].strip()
            if not command:
                continue
            if command.startswith("python manage.py"):
                self.sh(command)
                continue
            self.start(command.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}"))
        wait_for(self.answers, 30, "gunicorn to answer")

    def start(self, command: str, env: dict | None = None) -> None:
        log = self.folder / f"{command.split()[0]}-{len(self.processes)}.log"
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=self.dir, env={**self.env, **(env or {})},
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.processes.append((process, log))

    def answers(self) -> bool:
        for process, log in self.processes:
            if process.poll() is not None:
                raise AssertionError(f"{log.name} exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{self.url}/feedback/api/v1/", timeout=1)
            return True
        except OSError:
            return False

    def stop(self) -> None:
        for process, _log in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _log in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def query(self, expression: str):
        """An expression over feedback_loop's models (``m``), evaluated in the site's Django
        shell, as JSON."""
        code = (
            "import json\nimport feedback_loop.models as m\n"
            f"print(json.dumps({expression}, default=str))"
        )
        out = self.manage("shell", "-v", "0", "-c", code)
        return json.loads(out.strip().splitlines()[-1])

    def events(self) -> list[list]:
        """[trace id, kind, processed at] of every event stored."""
        return self.query(
            "list(m.FeedbackEvent.objects.values_list('trace_key', 'kind', 'processed_at'))"
        )

    def kinds(self, trace_id: str) -> set[str]:
        return {kind for key, kind, _at in self.events() if key == trace_id}


def get(url: str, opener=None, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except OSError:  # not listening (yet)
        return 0, {}, b""


def register_trace(site: Site, secret: str) -> tuple[str, str]:
    """The README's curl that registers an answer; returns its trace id and token."""
    command = blocks()["register"].split("\n#")[0]
    command = command.replace("https://example.com", site.url).replace("sk_...", secret)
    result = json.loads(site.sh(command))["results"][0]
    return result["trace_id"], result["token"]


def other_origin_page(site: Site, public: str, trace_id: str, token: str, folder: Path) -> None:
    html = blocks()["other-origin"]
    for placeholder, value in [
        ("https://example.com", site.url), ("pk_...", public),
        ("TRACE_ID", trace_id), ("TOKEN", token),
    ]:  # fmt: skip
        html = html.replace(placeholder, value)
    folder.mkdir()
    (folder / "index.html").write_text(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Elsewhere</title>'
        f"</head><body><main><h1>Another site</h1>\n{html}</main></body></html>\n"
    )


def vote_and_edit(page, url: str, *, edit: str | None) -> None:
    page.goto(url)
    bar = page.locator("[data-feedback-trace]").first
    page.get_by_role("button", name="Bad answer").click()
    page.get_by_role("button", name="Wrong format").click()
    page.get_by_role("button", name="Send").click()
    if edit is not None:
        bar.get_by_role("button", name="Edit").click()
        page.keyboard.press("Control+A")
        page.keyboard.type(edit)
        page.locator("h1").click()  # leave the answer: the edit goes


def in_browser(drive) -> None:
    """``drive(page)`` in Chromium, on a thread of its own: Playwright's sync API refuses to
    start where another instance (the browser tests' session-wide one) runs its event loop."""
    import threading

    from playwright.sync_api import sync_playwright

    failure: list[BaseException] = []

    def run():
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                try:
                    drive(browser.new_page())
                finally:
                    browser.close()
        except BaseException as error:  # re-raised in the test's thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def use_the_widget(page, site: Site, other: str, trace_id: str, edit: str) -> None:
    """A vote with a reason and an edit on the other origin's page, a vote on the site's own."""
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on(
        "response",
        lambda r: (
            console.append(f"{r.status} {r.url}")
            if "/feedback/" in r.url or r.status >= 400
            else None
        ),
    )
    try:
        vote_and_edit(page, other, edit=edit)
        wait_for(lambda: site.kinds(trace_id) == {"thumbs", "edit"}, 20, "vote and edit", 0.5)
        vote_and_edit(page, f"{site.url}/chat/", edit=None)  # the site's own origin
        wait_for(lambda: len(site.kinds(trace_id)) < len(site.events()), 20, "own", 0.5)
    except AssertionError as error:
        log = "\n".join(console)
        raise AssertionError(f"{error}\nThe page's console:\n{log}") from None


def test_the_readme_from_the_wheel_to_a_processed_event(wheel, tmp_path):
    redis = RedisServer()
    redis.start()
    site = Site(tmp_path, sys._base_executable, wheel)
    database = f"readme_{os.getpid()}"
    other_port = free_port()
    other = f"http://127.0.0.1:{other_port}"
    try:
        site.install()
        site.apply(postgres_url(database), redis.url)
        public, secret = site.create_project(other)
        site.add_chat_page(public)
        deploy = site.manage("check", "--deploy", "--fail-level", "ERROR")
        assert "feedback_loop" not in deploy and "drf_spectacular" not in deploy, deploy
        site.serve()

        # The widget and the admin's styles, from gunicorn with DEBUG off.
        status, headers, body = get(f"{site.url}/feedback/widget/0.2.0/widget.js")
        assert status == 200 and b"FeedbackLoop" in body and "immutable" in headers["Cache-Control"]
        assert get(f"{site.url}/static/admin/css/base.css")[0] == 200

        trace_id, token = register_trace(site, secret)
        other_origin_page(site, public, trace_id, token, tmp_path / "elsewhere")
        elsewhere = tmp_path / "elsewhere"
        site.start(f"python -m http.server {other_port} --bind 127.0.0.1 --directory {elsewhere}")
        wait_for(lambda: get(other)[0] == 200, 10, "the other origin's page")

        edit = "Canberra is the capital of Australia."
        in_browser(lambda page: use_the_widget(page, site, other, trace_id, edit))

        def processed():
            rows = site.events()
            return all(at for _key, _kind, at in rows) and rows

        events = wait_for(processed, 60, "the worker to process the events", interval=1)
        assert {(key == trace_id, kind) for key, kind, _at in events} == {
            (True, "thumbs"), (True, "edit"), (False, "thumbs"),
        }  # fmt: skip
        rollup = site.query(
            f"m.Trace.objects.filter(key={trace_id!r}).values("
            "'thumbs_down', 'edit_count', 'sentiment', 'review__status').get()"
        )
        pairs = site.query(
            "list(m.PreferencePair.objects.values_list('chosen', 'rejected', 'prompt'))"
        )
        own = site.query(
            "m.Trace.objects.filter(key__startswith='own-')"
            ".values_list('thumbs_down', 'registered').get()"
        )
        roles = site.query(
            "[m.Message.objects.get(pk=pk).role for pk in m.Conversation.objects.get("
            "trace__key__startswith='own-').message_ids]"
        )
        assert roles == ["system", "user"]
        assert rollup == {
            "thumbs_down": 1, "edit_count": 1, "sentiment": "negative", "review__status": "pending",
        }  # fmt: skip
        assert pairs == [[edit, "Sydney.", "Capital of Australia?"]]
        assert own == [1, True]
    finally:
        site.stop()
        redis.stop()
        drop_database(database)


def test_the_readme_on_python_313_with_the_newest_django(wheel, tmp_path):
    """Migrate, capture and the admin pages on the newest Python and Django the package names."""
    pythons = sorted(glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    if not pythons:
        pytest.fail("Python 3.13 is not installed (pyenv install 3.13)")
    redis = RedisServer()
    redis.start()
    site = Site(tmp_path, pythons[-1], wheel)
    database = f"readme313_{os.getpid()}"
    try:
        site.install()
        django = site.sh("python -c 'import django; print(django.__version__)'").strip()
        assert django.startswith("6."), django
        site.apply(postgres_url(database), redis.url)
        public, secret = site.create_project("https://chat.example.com")
        site.sh(
            "DJANGO_SUPERUSER_PASSWORD=pw python manage.py createsuperuser --noinput "
            "--username admin --email admin@example.com"
        )
        site.sh("python manage.py collectstatic --noinput")
        site.start(f"gunicorn proj.wsgi --bind 127.0.0.1:{site.port} --workers 2")
        wait_for(site.answers, 30, "gunicorn to answer")

        trace_id, token = register_trace(site, secret)
        event = {"event_id": str(uuid.uuid4()), "trace_id": trace_id, "token": token,
                 "kind": "thumbs", "value": -1}  # fmt: skip
        request = urllib.request.Request(
            f"{site.url}/feedback/api/v1/events",
            data=json.dumps({"key": public, "events": [event]}).encode(),
            headers={"Content-Type": "application/json", "Origin": "https://chat.example.com"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["accepted"] == 1
        assert site.query("m.FeedbackEvent.objects.count()") == 1

        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = f"{site.url}/admin/login/"
        status, _h, body = get(login, opener)
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": csrf, "username": "admin", "password": "pw", "next": "/admin/"}
        ).encode()
        opener.open(urllib.request.Request(login, data=form, headers={"Referer": login}))
        for path in [
            "/admin/feedback_loop/trace/", "/admin/feedback_loop/trace/dashboard/",
            "/admin/feedback_loop/trace/review/", "/admin/feedback_loop/feedbackevent/",
            "/admin/feedback_loop/dataset/", "/admin/feedback_loop/project/",
        ]:  # fmt: skip
            status, _h, body = get(site.url + path, opener)
            assert status == 200 and b"Log in" not in body[:4000], (path, status)
    finally:
        site.stop()
        redis.stop()
        drop_database(database)


def test_the_readmes_demo_commands_do_what_it_says(tmp_path):
    """The demo's commands (send an event, export, the load and Schemathesis proofs) against
    the demo site, run from a folder that looks like the checkout."""
    for name in (".venv", "manage.py", "tests", "example_project"):
        (tmp_path / name).symlink_to(ROOT / name)
    database = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database, "CELERY_BROKER_URL": ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def sh(command: str) -> str:
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        command = command.replace("sqlite:///demo.sqlite3", database)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    sh(".venv/bin/python manage.py migrate -v 0 && .venv/bin/python manage.py demo_seed")
    server = subprocess.Popen(
        [".venv/bin/python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/feedback/api/v1/")[0] == 200, 30, "demo")
        readme = blocks()
        out = sh(readme["demo-event"].split("\n#")[0])
        assert json.loads(out)["accepted"] == 1
        export = sh(readme["demo-export"])
        assert (tmp_path / "dpo-pairs.dpo.jsonl").exists()
        assert (tmp_path / "regression-set-v2.jsonl").exists()
        rows = [
            json.loads(line) for line in export.splitlines() if line.startswith('{"id": ')
        ]  # the curl's dpo rows
        assert rows and all({"prompt", "chosen", "rejected"} <= set(row) for row in rows)
        assert "id,input,messages,expected_output,output" in export  # the CSV on standard output
        gate = sh(readme["demo-eval"])
        assert "Regressed items (1):" in gate and "error_mode  0.00  0/1" in gate, gate
        proof = readme["demo-proof"].replace("--seconds 60", "--seconds 3 --clients 4")
        proof = proof.replace(
            "--exclude-checks", "--max-examples 2 --phases fuzzing --exclude-checks"
        )
        out = sh(proof)
        assert "Verified against the database" in out
        assert re.search(r"\d+ passed", out), out[-2000:]
    finally:
        server.terminate()
        server.wait(10)
