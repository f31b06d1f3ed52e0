"""feedback_loop_project: a project changed without the admin."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from feedback_loop.keys import hash_secret
from feedback_loop.models import Project
from tests.conftest import make_event

pytestmark = pytest.mark.django_db
EVENTS_URL = "/feedback/api/v1/events"


def run(*args) -> str:
    out = StringIO()
    call_command("feedback_loop_project", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def bot_and_secret():
    return Project.create("Support bot", allowed_origins="https://chat.example.com")


@pytest.fixture
def bot(bot_and_secret):
    return bot_and_secret[0]


def test_without_options_it_shows_the_project(bot):
    out = run(bot.public_key)
    assert f"public key: {bot.public_key}" in out
    assert "allowed origins: https://chat.example.com (and the site's own)" in out
    assert "tokens: required" in out
    assert bot.secret_key_prefix in out


def test_by_id_or_by_name(bot):
    assert "Support bot" in run(str(bot.pk))
    assert "Support bot" in run("Support bot")
    with pytest.raises(CommandError, match="No project is 'Nope'"):
        run("Nope")


def test_origins_are_added_removed_or_replaced_and_take_effect_on_capture(bot, client):
    page = "https://app.example.org"

    def post():
        return client.post(
            EVENTS_URL,
            {"key": bot.public_key, "events": [make_event(bot)]},
            content_type="application/json",
            HTTP_ORIGIN=page,
        )

    assert post().status_code == 403
    run(bot.public_key, "--add-origin", page)
    bot.refresh_from_db()
    assert bot.origin_list == ["https://chat.example.com", page]
    assert post().status_code == 200  # the project cache was dropped with the save
    run(bot.public_key, "--remove-origin", page)
    assert post().status_code == 403
    run(bot.public_key, "--origin", "https://a.example.com", "--origin", "*.example.net")
    bot.refresh_from_db()
    assert bot.origin_list == ["https://a.example.com", "*.example.net"]
    run(bot.public_key, "--any-origin")
    bot.refresh_from_db()
    assert bot.origin_list == []


def test_a_bad_origin_is_a_command_error_and_changes_nothing(bot):
    with pytest.raises(CommandError, match="Not an origin"):
        run(bot.public_key, "--add-origin", "https://evil.com\\.example.org")
    bot.refresh_from_db()
    assert bot.origin_list == ["https://chat.example.com"]
    with pytest.raises(CommandError, match="Not an allowed origin"):
        run(bot.public_key, "--remove-origin", "https://other.example.com")


def test_token_requirement_retention_and_activity(bot):
    run(bot.public_key, "--no-token", "--retention-days", "30", "--deactivate")
    bot.refresh_from_db()
    assert (bot.require_token, bot.retention_days, bot.is_active) == (False, 30, False)
    run(bot.public_key, "--require-token", "--retention-days", "0", "--activate")
    bot.refresh_from_db()
    assert (bot.require_token, bot.retention_days, bot.is_active) == (True, None, True)


def test_rotating_the_secret_prints_the_new_one_once_and_the_old_one_stops(bot_and_secret, client):
    bot, old_secret = bot_and_secret
    old_hash = bot.secret_key_hash
    out = run(bot.public_key, "--rotate-secret")
    (secret,) = [
        line.split(": ")[1] for line in out.splitlines() if line.startswith("secret key: sk_")
    ]
    bot.refresh_from_db()
    assert bot.secret_key_hash == hash_secret(secret) != old_hash
    for key, status in [(secret, 200), (old_secret, 401)]:
        answer = client.get("/feedback/api/v1/traces", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert answer.status_code == status


def test_rotating_the_public_key(bot):
    old = bot.public_key
    out = run(old, "--rotate-public")
    bot.refresh_from_db()
    assert bot.public_key != old
    assert f"public key: {bot.public_key}" in out


def test_curators_and_groups(bot):
    curator = User.objects.create_user("carla", is_staff=True)
    User.objects.create_user("visitor")
    Group.objects.create(name="Reviewers")
    run(bot.public_key, "--add-curator", "carla", "--add-group", "Reviewers")
    assert list(bot.members.all()) == [curator]
    assert [g.name for g in bot.member_groups.all()] == ["Reviewers"]
    with pytest.raises(CommandError, match="not staff"):
        run(bot.public_key, "--add-curator", "visitor")
    with pytest.raises(CommandError, match="No user is 'nobody'"):
        run(bot.public_key, "--add-curator", "nobody")
    run(bot.public_key, "--remove-curator", "carla", "--remove-group", "Reviewers")
    assert not bot.members.exists() and not bot.member_groups.exists()
