"""Links between an answer and the one it regenerated, claimed by the widget's metadata, kept only
when proven for both answers."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from feedback_loop.models import (
    EventKind,
    FeedbackEvent,
    RegenerationClaim,
    Trace,
    TraceKey,
    is_bound_voter,
)

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

    A claim naming an answer that is not there yet is kept (``RegenerationClaim``) and settled
    when either answer is processed again: proven then, or ignored.
    """
    new_claims = _claims(events)
    kept = _kept_claims(traces)
    claims = list(dict.fromkeys([*new_claims, *kept]))
    if not claims:
        return []
    proven = _proven_claims(claims)
    names = {key for old, new, _voter, _other in claims for key in (old, new)}
    pks = {
        (p, t): pk
        for pk, p, t in Trace.objects.for_keys(names).values_list("pk", "project_id", "key")
    }
    changed, waiting = [], []
    fresh = set(new_claims) - set(kept)
    for claim in claims:
        old, new, voter, other = claim
        if old not in pks or new not in pks:
            if is_bound_voter(voter):
                waiting.append(claim)  # settled when the other answer is there
        elif (voter, other) not in proven:
            if claim in fresh:
                logger.warning(
                    "Ignored a regeneration link %r -> %r claimed by %s: no event of the same "
                    "token-bound voter on %r proves it.",
                    old[1],
                    new[1],
                    voter or "an unknown voter",
                    other[1],
                )
        else:
            changed += _link(traces, pks, old, new)
    _keep(waiting, settled=[claim for claim in kept if claim not in waiting])
    return changed


def _kept_claims(traces: dict[TraceKey, Trace]) -> list[Claim]:
    if not traces:
        return []
    by_project: dict[int, list[str]] = {}
    for project_id, key in traces:
        by_project.setdefault(project_id, []).append(key)
    q = Q(pk__in=[])
    for project_id, keys in by_project.items():
        q |= Q(project_id=project_id, old_key__in=keys) | Q(project_id=project_id, new_key__in=keys)
    rows = RegenerationClaim.objects.filter(q).values_list(
        "project_id", "old_key", "new_key", "voter", "other_key"
    )
    return [
        ((project_id, old), (project_id, new), voter, (project_id, other))
        for project_id, old, new, voter, other in rows
    ]


def _keep(waiting: list[Claim], settled: list[Claim]) -> None:
    if waiting:
        RegenerationClaim.objects.bulk_create(
            [
                RegenerationClaim(
                    project_id=old[0],
                    old_key=old[1],
                    new_key=new[1],
                    voter=voter,
                    other_key=other[1],
                )
                for old, new, voter, other in waiting
            ],
            ignore_conflicts=True,
        )
    if settled:
        q = Q(pk__in=[])
        for old, new, voter, _other in settled:
            q |= Q(project_id=old[0], old_key=old[1], new_key=new[1], voter=voter)
        RegenerationClaim.objects.filter(q).delete()


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
