"""The demo site's URLs plus test-only pages for the browser tests (tests/browser), under /_test/.

Each page records the traces its query string names (``?ids=a,b``) for the default project and
renders them as answers with signed tokens, the way a host page does.
"""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import include, path

from feedback_loop import record_trace
from feedback_loop.conf import app_settings

# What the browser tests' pages allow: no inline script or style, no eval.
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'"
)


def _ids(request, name: str) -> list[str]:
    return [part for part in request.GET.get(name, "").split(",") if part]


def _answers(request, name: str, *, forged: bool = False) -> list[dict]:
    answers = []
    for trace_id in _ids(request, name):
        output = f"Answer {trace_id}: the capital of Australia is Canberra."
        record_trace(
            app_settings.DEFAULT_PROJECT, trace_id, input=f"Question {trace_id}?", output=output
        )
        answers.append({"trace_id": trace_id, "output": output, "forged": forged})
    return answers


def _context(request) -> dict:
    return {
        "answers": _answers(request, "ids") + _answers(request, "forged", forged=True),
        # Rendered inside <template> elements, for the test to append after the page loaded.
        "later": _answers(request, "later"),
        "signals": request.GET.get("signals", ""),
    }


def answers(request):
    """Answers in a plain list; ``?later=`` ones wait in templates, ``?forged=`` ones carry a
    token that does not verify."""
    return render(request, "widget_tests/answers.html", _context(request))


def shadow(request):
    """Answers inside the open shadow roots of a custom element."""
    return render(request, "widget_tests/shadow.html", _context(request))


def csp(request):
    """Answers on a page under a strict Content-Security-Policy."""
    response = render(request, "widget_tests/csp.html", _context(request))
    response["Content-Security-Policy"] = STRICT_CSP
    return response


def left(request):
    """Somewhere else to go: a page without the widget."""
    return HttpResponse("<!doctype html><html lang=en><title>Elsewhere</title><p>Elsewhere</p>")


urlpatterns = [
    path("_test/answers/", answers, name="test-answers"),
    path("_test/shadow/", shadow, name="test-shadow"),
    path("_test/csp/", csp, name="test-csp"),
    path("_test/left/", left, name="test-left"),
    path("", include("example_project.urls")),
]
