import uuid

from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from example_project.chat import model
from feedback_loop import record_trace
from feedback_loop.conf import app_settings
from feedback_loop.models import Trace

MODEL_NAME = "stand-in-1"
SYSTEM_PROMPT = "You are the demo's stand-in model. Answer briefly."


def _history(session_id: str, question: str, before=None) -> list[dict[str, str]]:
    """The conversation the model saw: the system prompt, the session's earlier turns (up to
    ``before``, for a regeneration), and the question."""
    earlier = Trace.objects.filter(
        project__public_key=app_settings.DEFAULT_PROJECT, session_id=session_id
    ).order_by("created_at")
    if before is not None:
        earlier = earlier.filter(created_at__lt=before.created_at)
    turns = [{"role": "system", "content": SYSTEM_PROMPT}]
    for trace in earlier[:20]:
        turns += [
            {"role": "user", "content": trace.input},
            {"role": "assistant", "content": trace.output},
        ]
    return [*turns, {"role": "user", "content": question}]


def _session_id(request) -> str:
    if "chat_session" not in request.session:
        request.session["chat_session"] = uuid.uuid4().hex[:16]
    return request.session["chat_session"]


@require_http_methods(["GET", "POST"])
def chat(request):
    session_id = _session_id(request)
    if request.method == "POST":
        question = request.POST.get("question", "").strip()[:2000]
        previous = Trace.objects.filter(
            project__public_key=app_settings.DEFAULT_PROJECT,
            session_id=session_id,
            key=request.POST.get("regenerate", ""),
        ).first()
        if previous is not None:
            # Regenerate: the same question, the next attempt of the stand-in model.
            attempt = 1 + Trace.objects.filter(regenerated_from=previous).count()
            record_trace(
                app_settings.DEFAULT_PROJECT,
                uuid.uuid4().hex,
                input=previous.input,
                output=model.answer(previous.input, attempt),
                messages=_history(session_id, previous.input, before=previous),
                model=MODEL_NAME,
                session_id=session_id,
                regenerated_from=previous.key,
            )
        elif question:
            record_trace(
                app_settings.DEFAULT_PROJECT,
                uuid.uuid4().hex,
                input=question,
                output=model.answer(question),
                messages=_history(session_id, question),
                model=MODEL_NAME,
                session_id=session_id,
            )
        return redirect("chat")
    messages = Trace.objects.filter(
        project__public_key=app_settings.DEFAULT_PROJECT, session_id=session_id
    ).order_by("created_at")[:100]
    return render(request, "chat/chat.html", {"messages": messages})
