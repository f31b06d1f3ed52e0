"""The dashboard's figures and charts."""

import pytest

from feedback_loop import record_trace
from tests.curation import ADMIN, add, page, run
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# -- dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_draws_its_charts(admin_client, queue):
    record_trace(queue, "odd", input="q", output="a", model='<img src=x onerror="alert(1)">')
    add(queue, "odd", value=-1)
    run(queue)
    text = page(admin_client.get(f"{ADMIN}/trace/dashboard/"))
    assert text.count('<svg class="fl-chart"') == 5
    assert "Hallucination (0 confirmed)" in text
    assert "<img src=x" not in text and "&lt;img src=x" in text
    assert "Satisfaction over time" in text
    other = page(admin_client.get(f"{ADMIN}/trace/dashboard/", {"project": "999", "days": "7"}))
    assert "No error modes suggested or confirmed" in other


def test_curation_pages_need_staff(client, queue):
    user = UserFactory(is_staff=False)
    client.force_login(user)
    for url in (f"{ADMIN}/trace/", f"{ADMIN}/trace/review/", f"{ADMIN}/trace/dashboard/"):
        assert client.get(url).status_code == 302  # to the login page
