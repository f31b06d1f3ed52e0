from __future__ import annotations

import logging
from typing import Any

from feedback_loop.internal.projects import resolve_project
from feedback_loop.internal.tokens import MISSING_USER_IDS

logger = logging.getLogger("feedback_loop")


def record_trace(
    project,
    trace_id: str,
    *,
    input: str,
    output: str,
    model: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    regenerated_from: str | None = None,
):
    """Store or update the trace ``trace_id`` of ``project`` and return it.

    ``project`` is a :class:`~feedback_loop.models.Project` or its public key. Call it when your
    backend produces an answer, then render the answer with ``data-feedback-trace`` and a token
    from :func:`feedback_loop.sign_trace`. Optional fields left as ``None`` keep their stored
    values when the trace exists. ``regenerated_from`` names the trace this answer replaced
    (the user hit regenerate): when the new answer is then liked or copied, the pipeline makes
    a preference pair of the two.
    """
    from feedback_loop.models import Trace

    project = resolve_project(project)
    if not isinstance(trace_id, str) or not 1 <= len(trace_id) <= 128:
        raise ValueError("trace_id must be a string of 1 to 128 characters.")
    if user_id is not None and str(user_id) in MISSING_USER_IDS:
        # str(request.user.pk) of an anonymous visitor: no user, not a user named "None".
        logger.warning("record_trace(user_id=%r) is stored as no user id.", user_id)
        user_id = ""
    fields: dict[str, Any] = {"input": input or "", "output": output or "", "registered": True}
    # Optional fields left as None keep what an earlier call stored.
    optional = {"model": model, "session_id": session_id, "user_id": user_id, "metadata": metadata}
    fields.update({name: value for name, value in optional.items() if value is not None})
    if regenerated_from is not None:
        if regenerated_from == trace_id:
            raise ValueError("A trace cannot be regenerated from itself.")
        previous = Trace.objects.filter(project=project, key=regenerated_from).first()
        if previous is None:
            raise ValueError(f"regenerated_from: no trace {regenerated_from!r} in {project}.")
        fields["regenerated_from"] = previous
    trace, _created = Trace.objects.update_or_create(project=project, key=trace_id, defaults=fields)
    return trace
