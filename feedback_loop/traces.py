"""Recording traces, for a host's backend: ``record_trace()`` for one answer, ``record_traces()``
for a batch (what ``POST api/v1/traces`` calls). Both keep what an earlier call stored for the
fields they leave out."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from feedback_loop import conversations
from feedback_loop.conf import MAX_ID_CHARS, app_settings
from feedback_loop.tokens import MISSING_USER_IDS

logger = logging.getLogger("feedback_loop")

# What a trace's recorder may set, beside its key.
FIELDS = ("input", "output", "model", "session_id", "user_id", "metadata", "release")


class TraceLinkError(ValueError):
    """A ``regenerated_from`` that names the trace itself or a trace the project lacks."""


def record_trace(
    project,
    trace_id: str,
    *,
    input: str,
    output: str,
    model: str | None = None,
    session_id: str | None = None,
    user_id: str | int | None = None,
    metadata: dict[str, Any] | None = None,
    regenerated_from: str | None = None,
    messages: list[dict[str, Any]] | None = None,
    release: str | None = None,
):
    """Store or update the trace ``trace_id`` of ``project`` and return it.

    ``project`` is a :class:`~feedback_loop.models.Project` or its public key. Call it when your
    backend produces an answer, then render the answer with ``data-feedback-trace`` and a token
    from :func:`feedback_loop.sign_trace`. Optional fields left as ``None`` keep their stored
    values when the trace exists. ``regenerated_from`` names the trace this answer replaced
    (the user hit regenerate): when the new answer is then liked or copied, the pipeline makes
    a preference pair of the two. ``messages`` is the conversation before the answer in OpenAI's
    chat format (system prompt, earlier turns, ending with the user's turn); ``input`` may then
    be left empty: it becomes the last user turn. A bad conversation raises ConversationError.
    ``release`` names the host's release that produced the answer (its git commit, a version);
    a new trace given none gets the ``DEFAULT_RELEASE`` setting.
    """
    from feedback_loop.models import Project, Trace

    project = Project.objects.resolve(project)
    if not isinstance(trace_id, str) or not 1 <= len(trace_id) <= MAX_ID_CHARS:
        raise ValueError(f"trace_id must be a string of 1 to {MAX_ID_CHARS} characters.")
    if user_id is not None:
        user_id = str(user_id)  # request.user.pk as it is
    if user_id is not None and user_id in MISSING_USER_IDS:
        # str(request.user.pk) of an anonymous visitor: no user, not a user named "None".
        logger.warning("record_trace(user_id=%r) is stored as no user id.", user_id)
        user_id = ""
    fields: dict[str, Any] = {"input": input or "", "output": output or ""}
    if messages is not None:
        fields["messages"] = conversations.clean(messages)
    # Optional fields left as None keep what an earlier call stored.
    optional = {"model": model, "session_id": session_id, "user_id": user_id, "metadata": metadata}
    optional["release"] = release
    fields.update({name: value for name, value in optional.items() if value is not None})
    if regenerated_from is not None:
        fields["regenerated_from"] = regenerated_from
    record_traces(project, {trace_id: fields})
    return Trace.objects.get(project=project, key=trace_id)


def record_traces(project, traces: dict[str, dict[str, Any]]) -> set[str]:
    """Store or update these traces of ``project`` (trace id -> its FIELDS, and optionally
    ``regenerated_from``, which may name a trace of the same batch); returns the ids of the
    traces it created. All or nothing: a bad link raises TraceLinkError and stores none."""
    from feedback_loop.models import Project

    project = Project.objects.resolve(project)
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _upsert(project, traces)
        except IntegrityError:  # a concurrent call created one of them first: update it
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _upsert(project, traces: dict[str, dict[str, Any]]) -> set[str]:
    from feedback_loop.models import Trace

    existing = {
        t.key: t for t in Trace.objects.select_for_update().filter(project=project, key__in=traces)
    }
    created, updated, changed = [], [], {"registered", "updated_at"}
    now = timezone.now()
    for key, given in traces.items():
        fields = {name: given[name] for name in FIELDS if name in given}
        if given.get("messages") and not fields.get("input"):
            # For display and search: the turn the answer replies to.
            fields["input"] = conversations.last_user_text(given["messages"])
        trace = existing.get(key)
        if trace is None:
            if "release" not in fields:
                fields["release"] = app_settings.DEFAULT_RELEASE or ""
            created.append(Trace(project=project, key=key, registered=True, **fields))
            continue
        for name, value in fields.items():
            setattr(trace, name, value)
        changed.update(fields)
        trace.registered, trace.updated_at = True, now
        updated.append(trace)
    Trace.objects.bulk_create(created)
    if updated:
        Trace.objects.bulk_update(updated, sorted(changed))
    links = {
        key: given["regenerated_from"]
        for key, given in traces.items()
        if "regenerated_from" in given
    }
    if links:
        _link(project, links)
    given_messages = {
        key: given["messages"] for key, given in traces.items() if given.get("messages")
    }
    if given_messages:
        pks = dict(
            Trace.objects.filter(project=project, key__in=given_messages).values_list("key", "pk")
        )
        conversations.store(
            project.pk, {pks[key]: messages for key, messages in given_messages.items()}
        )
    return {t.key for t in created}


def _link(project, links: dict[str, str]) -> None:
    from feedback_loop.models import Trace

    selves = sorted(new for new, old in links.items() if new == old)
    if selves:
        raise TraceLinkError(f"A trace cannot be regenerated from itself: {selves}.")
    pks = dict(
        Trace.objects.filter(project=project, key__in={*links, *links.values()}).values_list(
            "key", "pk"
        )
    )
    unknown = sorted(set(links.values()) - set(pks))
    if unknown:
        # Raised inside the transaction: nothing of the batch is stored.
        raise TraceLinkError(
            f"regenerated_from names traces this project does not have: {unknown}. Register "
            "the earlier answer first (or in the same request)."
        )
    for new, old in links.items():
        Trace.objects.filter(pk=pks[new]).update(regenerated_from_id=pks[old])
