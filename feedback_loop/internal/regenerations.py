"""Links between an answer and the one it regenerated, claimed by the widget's metadata, kept only
when proven for both answers."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from feedback_loop.models import EventKind, FeedbackEvent, Trace, TraceKey, is_bound_voter

logger = logging.getLogger("feedback_loop.pipeline")


# A claim: (old answer, new answer, the claiming event's voter, the trace it must also be on).
Claim = tuple[TraceKey, TraceKey, str, TraceKey]


def link_regenerations(
    traces: dict[TraceKey, Trace], events: dict[TraceKey, list[FeedbackEvent]]
) -> list[Trace]:
    """Fill ``regenerated_from`` from the widget's metadata: ``regenerated_from`` on events of
    the new answer, ``new_trace_id`` on the regenerate event of the old one. Returns the traces
    of this chunk it changed; links to traces outside the chunk are written at once.

    A browser's claim links two traces only when it is proven for both: the claiming event's
    token binds a voter (a user or a session), and that voter also sent an event, with that
    trace's token, on the other trace. Otherwise anyone holding the token of one answer could
    make another user's answer "regenerated from" it and forge preference pairs.
    """
    claims = _claims(events)
    if not claims:
        return []
    proven = _proven_claims(claims)
    names = {key for old, new, _voter, _other in claims for key in (old, new)}
    pks = {
        (p, t): pk
        for pk, p, t in Trace.objects.for_keys(names).values_list("pk", "project_id", "key")
    }
    changed = []
    for old, new, voter, other in claims:
        if (voter, other) not in proven:
            logger.warning(
                "Ignored a regeneration link %r -> %r claimed by %s: no event of the same "
                "token-bound voter on %r proves it.",
                old[1],
                new[1],
                voter or "an unknown voter",
                other[1],
            )
        elif old in pks and new in pks:  # else linked when the other trace is processed
            changed += _link(traces, pks, old, new)
    return changed


def _claims(events: dict[TraceKey, list[FeedbackEvent]]) -> list[Claim]:
    claims: list[Claim] = []
    for (project_id, trace_key), evs in events.items():
        for event in evs:
            meta = event.metadata if isinstance(event.metadata, dict) else {}
            old = meta.get("regenerated_from")
            if isinstance(old, str) and old and old != trace_key:
                claims.append(
                    ((project_id, old), (project_id, trace_key), event.voter, (project_id, old))
                )
            new = meta.get("new_trace_id")
            if event.kind == EventKind.REGENERATE and isinstance(new, str) and new != trace_key:
                claims.append(
                    ((project_id, trace_key), (project_id, new), event.voter, (project_id, new))
                )
    return claims


def _link(traces, pks, old: TraceKey, new: TraceKey) -> list[Trace]:
    """Link ``new`` to ``old`` unless it has a link already: in the chunk (returned, saved with
    the chunk's rollups) or written now."""
    trace = traces.get(new)
    if trace is not None:
        if trace.regenerated_from_id is not None:
            return []
        trace.regenerated_from_id = pks[old]
        return [trace]
    Trace.objects.filter(pk=pks[new], regenerated_from__isnull=True).update(
        regenerated_from=pks[old], updated_at=timezone.now()
    )
    if old in traces:
        traces[old]._regenerations_changed = True  # check its new answer's pair
    return []


def _proven_claims(claims: list[Claim]) -> set[tuple[str, TraceKey]]:
    """(voter, other trace) of the claims whose voter is bound by its token and sent an event
    on the other trace too."""
    wanted = {(voter, other) for _old, _new, voter, other in claims if is_bound_voter(voter)}
    if not wanted:
        return set()
    q = Q(pk__in=[])
    for voter, (project_id, trace_key) in wanted:
        q |= Q(project_id=project_id, trace_key=trace_key, voter=voter)
    return {
        (voter, (project_id, trace_key))
        for project_id, trace_key, voter in FeedbackEvent.objects.filter(q)
        .values_list("project_id", "trace_key", "voter")
        .distinct()
    }
