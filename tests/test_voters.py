"""Who an event counts for: the voter its token binds. One token, one voter; a voter's events on
a trace are capped; a browser's claim that one answer regenerated another counts only when the
same token-bound voter vouches for both."""

import logging
import re
import uuid

import pytest
from django.test import override_settings
from django.utils import timezone

from feedback_loop import record_trace, sign_trace
from feedback_loop.models import FeedbackEvent, PreferencePair, RegenerationClaim, Trace
from feedback_loop.tokens import session_digest, verify_token
from tests.conftest import make_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def post_events(post_events, django_capture_on_commit_callbacks):
    """Capture, then the pipeline (eager, once the capture commits), as in production."""

    def post(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post_events(*args, **kwargs)

    return post


def trace(project, trace_id="trace-1") -> Trace:
    return Trace.objects.get(project=project, key=trace_id)


def statuses(response) -> list[tuple[str, str | None]]:
    return [(r["status"], (r.get("error") or {}).get("code")) for r in response.json()["results"]]


# -- one token, one voter ----------------------------------------------------------------------


def test_fresh_session_ids_on_one_token_stuff_no_votes(project, post_events):
    # The review's attack: one token, batches of thumbs-down each with a fresh session id (and
    # user id). Before, every one counted: thousands of downvotes and a score of -1.
    record_trace(project, "trace-1", input="Q", output="A")
    real = sign_trace("trace-1", project=project, user_id="real-user")
    post_events(project, [make_event(project, token=real, value=1)])
    token = sign_trace("trace-1", project=project)  # bound to nobody
    answers = []
    for _request in range(3):
        batch = [
            make_event(
                project,
                token=token,
                value=-1,
                session_id=uuid.uuid4().hex,
                user_id=uuid.uuid4().hex,
            )
            for _ in range(100)
        ]
        answers.append(statuses(post_events(project, batch)))

    assert answers[0] == [("accepted", None)] * 100
    assert answers[1] == answers[2] == [("rejected", "voter_limit")] * 100
    t = trace(project)
    assert (t.thumbs_up, t.thumbs_down, t.score) == (1, 1, 0.0)
    assert FeedbackEvent.objects.filter(trace_key="trace-1").count() == 101


def test_the_limit_per_voter_reads_at_most_the_limit_whatever_is_stored(project):
    """Stored events past the limit (the limit was raised, then lowered) do not make the check
    read them all: each voter's count stops at the limit + 1."""
    from feedback_loop.internal.capture import _stored_per_voter

    FeedbackEvent.objects.bulk_create(
        FeedbackEvent(project=project, event_id=uuid.uuid4(), trace_key="t", kind="thumbs",
                      value=1, voter="cu:heavy", timestamp=timezone.now())
        for _ in range(250)
    )  # fmt: skip
    with override_settings(FEEDBACK_LOOP={"MAX_EVENTS_PER_VOTER": 10}):
        counts = dict(_stored_per_voter(project.pk, [("t", "cu:heavy"), ("t", "cu:light")]))
    assert counts == {("t", "cu:heavy"): 11, ("t", "cu:light"): 0}


def test_a_session_bound_token_is_one_voter_whatever_ids_the_events_claim(project, post_events):
    record_trace(project, "trace-1", input="Q", output="A")
    token = sign_trace("trace-1", project=project, session_key="abc123sessionkey")
    votes = [(-1, "s1", "10:00"), (-1, "s2", "10:01"), (-1, "s3", "10:02"), (1, "s9", "10:09")]
    events = [
        make_event(project, token=token, value=v, session_id=s, timestamp=f"2026-11-20T{t}:00Z")
        for v, s, t in votes
    ]
    post_events(project, events)
    t = trace(project)
    assert (t.thumbs_up, t.thumbs_down) == (1, 0)  # the voter's latest vote, once
    voters = set(FeedbackEvent.objects.values_list("voter", flat=True))
    assert voters == {f"s:{session_digest('abc123sessionkey')}"}
    # The session key itself is never in the token: tokens sit in pages.
    assert "abc123sessionkey" not in token


def test_a_user_bound_token_overrides_the_session_the_event_claims(project, post_events):
    token = sign_trace("trace-1", project=project, user_id="u1")
    post_events(
        project,
        [make_event(project, token=token, session_id=f"s{i}", value=-1) for i in range(5)],
    )
    assert set(FeedbackEvent.objects.values_list("voter", flat=True)) == {"u:u1"}
    assert trace(project).thumbs_down == 1


@override_settings(FEEDBACK_LOOP={"MAX_EVENTS_PER_VOTER": 3})
def test_the_limit_per_voter_is_a_setting_and_a_repeat_is_still_a_duplicate(project, post_events):
    token = sign_trace("trace-1", project=project, user_id="u1")
    first = [make_event(project, token=token, kind="copy") for _ in range(3)]
    assert statuses(post_events(project, first)) == [("accepted", None)] * 3
    extra = make_event(project, token=token, kind="copy")
    again = post_events(project, [*first, extra])
    assert statuses(again) == [("duplicate", None)] * 3 + [("rejected", "voter_limit")]
    message = again.json()["results"][3]["error"]["message"]
    assert "MAX_EVENTS_PER_VOTER" in message and "3 events" in message
    # Another voter on the same trace, and the same voter on another trace, are not limited.
    other = sign_trace("trace-1", project=project, user_id="u2")
    assert statuses(post_events(project, [make_event(project, token=other)])) == [
        ("accepted", None)
    ]
    elsewhere = make_event(project, trace_id="trace-2", user_id="u1")
    assert statuses(post_events(project, [elsewhere])) == [("accepted", None)]


def test_a_project_without_tokens_counts_the_ids_the_client_claims(project, post_events):
    project.require_token = False
    project.save()
    events = [
        {"event_id": str(uuid.uuid4()), "trace_id": "t", "kind": "thumbs", "value": -1, **ids}
        for ids in ({"user_id": "u1"}, {"session_id": "s1"}, {})
    ]
    post_events(project, events)
    voters = sorted(FeedbackEvent.objects.values_list("voter", flat=True))
    assert voters[:2] == ["cs:s1", "cu:u1"] and voters[2].startswith("e:")


# -- what tokens bind --------------------------------------------------------------------------


def _page_token(response, trace_id: str) -> str:
    pattern = rf'data-feedback-trace="{trace_id}"\s+data-feedback-token="([^"]+)"'
    match = re.search(pattern, response.content.decode())
    assert match, "the chat page renders the answer with its token"
    return match.group(1)


def test_the_token_tag_binds_the_visitors_session_and_the_signed_in_user(client, settings):
    from feedback_loop.models import Project

    project, _secret = Project.create("Demo", public_key="pk_demo_project_key")
    settings.FEEDBACK_LOOP = {"DEFAULT_PROJECT": project.public_key}
    client.post("/", {"question": "Hello?"})
    [t] = Trace.objects.all()

    first, again = (
        verify_token(_page_token(client.get("/"), t.key), project_pk=project.pk, trace_id=t.key)
        for _ in range(2)
    )
    assert first.user_id is None and first.session
    assert again.session == first.session  # the same visitor, the same voter
    assert first.session == session_digest(client.session.session_key)

    user = UserFactory()
    client.force_login(user)
    client.post("/", {"question": "Hello again?"})
    newest = Trace.objects.latest("created_at")
    page = client.get("/")
    bound = verify_token(_page_token(page, newest.key), project_pk=project.pk, trace_id=newest.key)
    assert bound.user_id == str(user.pk)


def test_tokens_from_post_traces_bind_the_user_else_the_session(api, project):
    response = api.post(
        "/traces",
        {
            "traces": [
                {"trace_id": "a", "user_id": "u7", "session_id": "s7"},
                {"trace_id": "b", "session_id": "s8"},
                {"trace_id": "c"},
            ]
        },
    )
    tokens = {r["trace_id"]: r["token"] for r in response.json()["results"]}
    bound = {t: verify_token(tokens[t], project_pk=project.pk, trace_id=t) for t in tokens}
    assert (bound["a"].user_id, bound["a"].session) == ("u7", None)
    assert (bound["b"].user_id, bound["b"].session) == (None, session_digest("s8"))
    assert (bound["c"].user_id, bound["c"].session) == (None, None)


@pytest.mark.parametrize("missing", ["None", "null", "undefined", "AnonymousUser"])
def test_a_stringified_missing_user_id_is_refused_by_the_api(api, missing):
    response = api.post("/traces", {"traces": [{"trace_id": "a", "user_id": missing}]})
    assert response.status_code == 400
    [message] = response.json()["error"]["fields"]["traces"]["0"]["user_id"]
    assert "str(None)" in message


def test_record_trace_and_capture_store_no_user_named_none(project, post_events, caplog):
    with caplog.at_level(logging.WARNING, logger="feedback_loop"):
        stored = record_trace(project, "t1", input="Q", output="A", user_id="None")
    assert stored.user_id == "" and "stored as no user id" in caplog.text
    assert sign_trace("t1", project=project, user_id="None") == sign_trace("t1", project=project)
    post_events(project, [make_event(project, trace_id="t1", user_id="None")])
    assert FeedbackEvent.objects.get().user_id == ""


# -- regeneration links need proof for both traces --------------------------------------------


def _thumbs(project, trace_id, user, value=1, **metadata):
    token = sign_trace(trace_id, project=project, user_id=user)
    return make_event(project, trace_id=trace_id, token=token, value=value, metadata=metadata)


def _regenerate(project, trace_id, user, **metadata):
    token = sign_trace(trace_id, project=project, user_id=user)
    return make_event(
        project, trace_id=trace_id, token=token, kind="regenerate", value=None, metadata=metadata
    )


@pytest.mark.parametrize("claim", ["regenerated_from", "new_trace_id"])
def test_a_link_to_another_users_answer_is_ignored_and_logged(project, post_events, caplog, claim):
    record_trace(project, "victim", input="Q", output="The victim's good answer", user_id="v")
    record_trace(project, "mine", input="Q", output="The attacker's answer", user_id="a")
    post_events(project, [_thumbs(project, "victim", "v")])  # the victim liked their answer
    with caplog.at_level(logging.WARNING, logger="feedback_loop.pipeline"):
        if claim == "regenerated_from":
            # "My answer was regenerated into the victim's", claimed with my token only.
            forged = _thumbs(project, "mine", "a", value=-1, regenerated_from="victim")
            post_events(project, [forged])
        else:
            post_events(project, [_regenerate(project, "mine", "a", new_trace_id="victim")])
    # The attacker then likes the answer the claim names as the regeneration.
    liked = "mine" if claim == "regenerated_from" else "victim"
    post_events(project, [_thumbs(project, liked, "a", value=1)])
    assert trace(project, "victim").regenerated_from is None
    assert trace(project, "mine").regenerated_from is None
    assert not PreferencePair.objects.filter(source="regenerate").exists()
    assert "Ignored a regeneration link" in caplog.text


def test_an_unbound_token_cannot_prove_a_link(project, post_events):
    record_trace(project, "old", input="Q", output="first try")
    record_trace(project, "new", input="Q", output="second try")
    old_token, new_token = (sign_trace(t, project=project) for t in ("old", "new"))
    post_events(
        project,
        [
            make_event(project, trace_id="old", token=old_token, kind="regenerate", value=None,
                       metadata={"new_trace_id": "new"}),
            make_event(project, trace_id="new", token=new_token, value=1,
                       metadata={"regenerated_from": "old"}),
        ],
    )  # fmt: skip
    assert trace(project, "new").regenerated_from is None


@pytest.mark.parametrize("together", [True, False])
def test_the_same_bound_voter_on_both_answers_links_them(project, post_events, together):
    record_trace(project, "old", input="Q", output="first try", user_id="u1")
    record_trace(project, "new", input="Q", output="second try", user_id="u1")
    regenerate = _regenerate(project, "old", "u1", new_trace_id="new")
    liked = _thumbs(project, "new", "u1", regenerated_from="old")
    if together:
        post_events(project, [regenerate, liked])
    else:
        post_events(project, [liked])
        post_events(project, [regenerate])
    assert trace(project, "new").regenerated_from == trace(project, "old")
    pair = PreferencePair.objects.get(source="regenerate")
    assert (pair.chosen, pair.rejected) == ("second try", "first try")


def test_a_claim_waits_for_its_proof_and_links_when_the_other_answer_is_processed(
    project, post_events
):
    """The regenerate click comes first, on its own; the new answer is registered and voted on
    later. Its processing settles the claim kept from the old answer's event."""
    record_trace(project, "old", input="Q", output="first try", user_id="u1")
    post_events(project, [_regenerate(project, "old", "u1", new_trace_id="new")])
    assert trace(project, "old").regenerate_count == 1

    record_trace(project, "new", input="Q", output="second try", user_id="u1")
    post_events(project, [_thumbs(project, "new", "u1")])  # no claim on this event

    assert trace(project, "new").regenerated_from == trace(project, "old")
    pair = PreferencePair.objects.get(source="regenerate")
    assert (pair.chosen, pair.rejected) == ("second try", "first try")
    assert not RegenerationClaim.objects.exists()  # settled, not kept


def test_a_link_the_host_registered_needs_no_browser_proof(project, post_events):
    record_trace(project, "old", input="Q", output="first try")
    record_trace(project, "new", input="Q", output="second try", regenerated_from="old")
    post_events(project, [make_event(project, trace_id="new", value=1)])  # unbound token
    assert PreferencePair.objects.get(source="regenerate").chosen == "second try"
