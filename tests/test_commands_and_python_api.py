"""The management command, the Python API for host backends, trace tokens and origin matching."""

import hashlib
import re
import time
from io import StringIO

import pytest
from django.core import signing
from django.core.management import CommandError, call_command
from django.test import override_settings

from feedback_loop.models import Project, Trace
from feedback_loop.origins import origin_allowed
from feedback_loop.tokens import SALT, TokenError, verify_token

pytestmark = pytest.mark.django_db


# -- feedback_loop_create_project ----------------------------------------------------------------


def create_project(*args):
    out = StringIO()
    call_command("feedback_loop_create_project", *args, stdout=out)
    return out.getvalue()


def test_create_project_prints_both_keys_and_stores_only_the_secrets_hash(client):
    output = create_project("Shop", "--origin", "https://shop.example.com")

    (public_key,) = re.findall(r"^public key: (pk_\S+)$", output, re.M)
    (secret,) = re.findall(r"^secret key: (sk_\S+)$", output, re.M)
    project = Project.objects.get()
    assert project.name == "Shop"
    assert project.public_key == public_key
    assert project.secret_key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(Project.objects.values().get())
    assert project.origin_list == ["https://shop.example.com"]
    assert project.require_token is True
    assert "shown this once" in output
    # The printed secret key works for the server API.
    response = client.get("/feedback/api/v1/traces", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


def test_create_project_with_several_origins_and_options():
    create_project(
        "Support bot",
        "--origin",
        "https://app.example.com",
        "--origin",
        "https://*.example.org",
        "--no-token",
        "--retention-days",
        "90",
    )

    project = Project.objects.get(name="Support bot")
    assert project.origin_list == ["https://app.example.com", "https://*.example.org"]
    assert project.require_token is False
    assert project.retention_days == 90


def test_create_project_without_origins_accepts_any_origin():
    create_project("Open")

    project = Project.objects.get(name="Open")
    assert project.allowed_origins == ""
    assert origin_allowed("https://anything.io", project.origin_list)


def test_two_projects_get_different_keys():
    first, second = create_project("A"), create_project("B")

    assert set(re.findall(r"[ps]k_\S+", first)).isdisjoint(re.findall(r"[ps]k_\S+", second))


@pytest.mark.parametrize("origin", ["ftp://shop.example.com", "https://shop.example.com/app"])
def test_create_project_with_a_bad_origin_is_a_command_error(origin):
    with pytest.raises(CommandError, match=re.escape(f"Not an origin: {origin}")):
        create_project("Shop", "--origin", origin)

    assert not Project.objects.exists()


# -- record_trace and sign_trace -----------------------------------------------------------------


def test_public_functions_import_from_the_package():
    import feedback_loop
    from feedback_loop import evaluate, record_trace, sign_trace

    assert callable(record_trace)
    assert callable(sign_trace)
    assert callable(evaluate)
    assert set(feedback_loop.__all__) == {"__version__", "evaluate", "record_trace", "sign_trace"}
    with pytest.raises(AttributeError):
        _ = feedback_loop.not_a_function


def test_record_trace_creates_then_updates(project):
    from feedback_loop import record_trace

    created = record_trace(
        project,
        "trace-1",
        input="What is 2+2?",
        output="5",
        model="model-a",
        session_id="s1",
        user_id="u1",
        metadata={"temperature": 0.2},
    )
    updated = record_trace(
        project, "trace-1", input="What is 2+2?", output="4", model="model-b", user_id="u1"
    )

    assert isinstance(created, Trace)
    assert updated.pk == created.pk
    assert Trace.objects.filter(project=project).count() == 1
    trace = Trace.objects.get(pk=created.pk)
    assert (trace.output, trace.model, trace.user_id) == ("4", "model-b", "u1")
    # Fields the second call left out keep what the first stored.
    assert (trace.session_id, trace.metadata) == ("s1", {"temperature": 0.2})
    assert trace.registered is True


def test_record_trace_with_the_public_key(project):
    from feedback_loop import record_trace

    trace = record_trace(project.public_key, "trace-2", input="Hi", output="Hello")

    assert trace.project == project
    assert Trace.objects.get(project=project, key="trace-2").output == "Hello"


def test_record_trace_keeps_the_same_id_of_two_projects_apart(project):
    from feedback_loop import record_trace

    other, _secret = Project.create("Other")

    record_trace(project, "same", input="a", output="mine")
    record_trace(other, "same", input="b", output="theirs")

    assert Trace.objects.get(project=project, key="same").output == "mine"
    assert Trace.objects.get(project=other, key="same").output == "theirs"


@pytest.mark.parametrize("trace_id", ["", "x" * 129, 42])
def test_record_trace_rejects_a_bad_trace_id(project, trace_id):
    from feedback_loop import record_trace

    with pytest.raises(ValueError, match="1 to 128 characters"):
        record_trace(project, trace_id, input="q", output="a")
    assert not Trace.objects.exists()


def test_record_trace_with_an_unknown_public_key(db):
    from feedback_loop import record_trace

    with pytest.raises(Project.DoesNotExist, match="pk_nobody"):
        record_trace("pk_nobody", "t", input="q", output="a")


def test_sign_trace_with_the_public_key_string(project):
    from feedback_loop import sign_trace

    token = sign_trace("trace-1", project=project.public_key)

    assert verify_token(token, project_pk=project.pk, trace_id="trace-1").user_id is None


def test_sign_trace_binds_the_end_user(project):
    from feedback_loop import sign_trace

    token = sign_trace("trace-1", project=project, user_id="end-user-3")

    assert verify_token(token, project_pk=project.pk, trace_id="trace-1").user_id == "end-user-3"


def test_a_w3c_trace_id_works_as_is(project):
    from feedback_loop import sign_trace

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"

    token = sign_trace(trace_id, project=project)

    assert verify_token(token, project_pk=project.pk, trace_id=trace_id).user_id is None


def test_sign_trace_rejects_a_bad_trace_id(project):
    from feedback_loop import sign_trace

    with pytest.raises(ValueError, match="1 to 128 characters"):
        sign_trace("x" * 129, project=project)


# -- token verification --------------------------------------------------------------------------


def _code(token, *, project_pk, trace_id):
    with pytest.raises(TokenError) as exc:
        verify_token(token, project_pk=project_pk, trace_id=trace_id)
    assert exc.value.message  # always says why
    return exc.value.code


def test_token_for_another_project_is_invalid(project):
    from feedback_loop import sign_trace

    other, _secret = Project.create("Other")
    token = sign_trace("t1", project=project)

    assert _code(token, project_pk=other.pk, trace_id="t1") == "invalid_token"


def test_token_for_another_trace_is_invalid(project):
    from feedback_loop import sign_trace

    token = sign_trace("t1", project=project)

    assert _code(token, project_pk=project.pk, trace_id="t2") == "invalid_token"
    assert _code(token, project_pk=project.pk, trace_id="t1 ") == "invalid_token"


def test_expired_token(project):
    from feedback_loop import sign_trace

    token = sign_trace("t1", project=project, max_age=-1)

    assert _code(token, project_pk=project.pk, trace_id="t1") == "token_expired"


def test_token_lifetime_defaults_to_the_setting(project, monkeypatch):
    from feedback_loop import sign_trace

    with override_settings(FEEDBACK_LOOP={"TOKEN_MAX_AGE": 60}):
        token = sign_trace("t1", project=project)
    now = time.time()

    monkeypatch.setattr(time, "time", lambda: now + 30)
    assert verify_token(token, project_pk=project.pk, trace_id="t1").user_id is None
    monkeypatch.setattr(time, "time", lambda: now + 120)
    assert _code(token, project_pk=project.pk, trace_id="t1") == "token_expired"


def test_tampered_token_is_invalid(project):
    from feedback_loop import sign_trace

    token = sign_trace("t1", project=project)
    payload, signature = token.rsplit(":", 1)
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    # Re-encode a payload for another trace under the original signature.
    forged_payload = signing.Signer(salt=SALT).sign_object(
        {"p": project.pk, "t": "t2", "x": int(time.time()) + 600}
    )
    forged = forged_payload.rsplit(":", 1)[0] + ":" + signature

    assert _code(f"{payload}:{flipped}", project_pk=project.pk, trace_id="t1") == "invalid_token"
    assert _code(forged, project_pk=project.pk, trace_id="t2") == "invalid_token"
    assert _code(token + "x", project_pk=project.pk, trace_id="t1") == "invalid_token"


@pytest.mark.parametrize("token", [None, "", 42, "not-a-token", "a:b:c", "x" * 2000])
def test_garbage_tokens_are_invalid(project, token):
    assert _code(token, project_pk=project.pk, trace_id="t1") == "invalid_token"


def test_a_token_signed_for_something_else_with_the_same_key_is_invalid(project):
    token = signing.Signer(salt="another.salt").sign_object(
        {"p": project.pk, "t": "t1", "x": int(time.time()) + 600}
    )

    assert _code(token, project_pk=project.pk, trace_id="t1") == "invalid_token"


def test_token_signed_with_an_old_secret_key_verifies_while_it_is_a_fallback(project):
    from feedback_loop import sign_trace

    with override_settings(SECRET_KEY="old-secret-key-" + "x" * 40):
        token = sign_trace("t1", project=project, user_id="u1")

    with override_settings(
        SECRET_KEY="new-secret-key-" + "y" * 40,
        SECRET_KEY_FALLBACKS=["old-secret-key-" + "x" * 40],
    ):
        assert verify_token(token, project_pk=project.pk, trace_id="t1").user_id == "u1"

    with override_settings(SECRET_KEY="new-secret-key-" + "y" * 40, SECRET_KEY_FALLBACKS=[]):
        assert _code(token, project_pk=project.pk, trace_id="t1") == "invalid_token"


# -- origin matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowlist", "origin", "allowed"),
    [
        # exact
        (["https://shop.example.com"], "https://shop.example.com", True),
        (["https://shop.example.com"], "https://SHOP.example.com", True),
        (["https://Shop.Example.com"], "https://shop.example.com", True),
        (["https://shop.example.com"], "https://other.example.com", False),
        (["https://shop.example.com"], "https://shop.example.com.evil.io", False),
        # port
        (["https://shop.example.com"], "https://shop.example.com:443", True),
        (["https://shop.example.com"], "https://shop.example.com:8443", False),
        (["http://localhost:8000"], "http://localhost:8000", True),
        (["http://localhost:8000"], "http://localhost:8001", False),
        (["http://localhost:8000"], "http://localhost", False),
        # scheme
        (["https://shop.example.com"], "http://shop.example.com", False),
        (["http://shop.example.com"], "https://shop.example.com", False),
        # wildcards
        (["*.example.com"], "https://a.example.com", True),
        (["*.example.com"], "https://a.b.example.com", True),
        (["*.example.com"], "https://example.com", False),
        (["*.example.com"], "https://badexample.com", False),
        (["*.example.com"], "https://a.example.com.evil.io", False),
        (["https://*.example.com"], "https://a.example.com", True),
        (["https://*.example.com"], "http://a.example.com", False),
        (["https://*.example.com"], "https://example.com", False),
        # bare hosts: any scheme on its default port
        (["shop.example.com"], "https://shop.example.com", True),
        (["shop.example.com"], "http://shop.example.com", True),
        (["shop.example.com"], "https://shop.example.com:8443", False),
        (["localhost:3000"], "http://localhost:3000", True),
        (["localhost:3000"], "http://localhost:3001", False),
        # lists
        (["https://a.example.com", "https://b.example.com"], "https://b.example.com", True),
        ([], "https://anything.io", True),
        (["*"], "https://anything.io", True),
        # what browsers send that is not a web origin
        (["https://shop.example.com"], "null", False),
        (["https://shop.example.com"], "file://", False),
        (["https://shop.example.com"], "chrome-extension://abcdef", False),
        (["https://shop.example.com"], "https://shop.example.com:99999", False),
    ],
)
def test_origin_allowed(allowlist, origin, allowed):
    assert origin_allowed(origin, allowlist) is allowed
