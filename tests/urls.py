"""The demo site's URLs plus test-only pages for the browser tests (tests/browser), under /_test/.

Each page records the traces its query string names (``?ids=a,b``) for the default project and
renders them as answers with signed tokens, the way a host page does. The script tag is the one
``{% feedback_loop_script %}`` renders, or with ``?tag=hand`` one written by hand (endpoint and
key only, as the README shows), whose key ``?key=`` and endpoint ``?endpoint=cross`` (the same
server under its other host name, so another origin) can be changed.
"""

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.template.loader import TemplateDoesNotExist, get_template
from django.urls import include, path, reverse

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


def _unregistered(request) -> list[dict]:
    """Answers the host never registered (no record_trace): their traces come from the widget."""
    return [
        {"trace_id": trace_id, "output": f"Unregistered answer {trace_id}: it is sunny in Perth."}
        for trace_id in _ids(request, "unregistered")
    ]


# What the hand-written tag's ?endpoint=cross swaps: the live server answers on both names.
_OTHER_HOST = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}


def _script(request) -> dict:
    endpoint = request.build_absolute_uri(reverse("feedback_loop:events"))
    if request.GET.get("endpoint") == "cross":
        host = request.get_host().partition(":")[0]
        endpoint = endpoint.replace(f"//{host}:", f"//{_OTHER_HOST[host]}:", 1)
    return {
        "hand": request.GET.get("tag") == "hand",
        "endpoint": endpoint,
        "key": request.GET.get("key") or app_settings.DEFAULT_PROJECT,
        "signals": request.GET.get("signals", ""),
    }


def _context(request) -> dict:
    return {
        "answers": _answers(request, "ids")
        + _answers(request, "forged", forged=True)
        + _unregistered(request),
        # Rendered inside <template> elements, for the test to append after the page loaded.
        "later": _answers(request, "later"),
        **_script(request),
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


def page(request, name):
    """One of the fixtures that behave like a chat frontend (widget_tests/<name>.html): a web
    component defined late, a streaming chat, a virtual list, an SPA..."""
    try:
        get_template(f"widget_tests/{name}.html")
    except TemplateDoesNotExist:
        raise Http404(name) from None
    return render(request, f"widget_tests/{name}.html", _context(request))


def left(request):
    """Somewhere else to go: a page without the widget."""
    return HttpResponse("<!doctype html><html lang=en><title>Elsewhere</title><p>Elsewhere</p>")


urlpatterns = [
    path("_test/answers/", answers, name="test-answers"),
    path("_test/shadow/", shadow, name="test-shadow"),
    path("_test/csp/", csp, name="test-csp"),
    path("_test/left/", left, name="test-left"),
    path("_test/page/<slug:name>/", page, name="test-page"),
    path("", include("example_project.urls")),
]
