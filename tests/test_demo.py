"""The demo's seed: what `make demo` prints and what its data teaches."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from feedback_loop.models import Dataset, DatasetItem, PreferencePair
from tests.conftest import API, bearer

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("demo_seed", stdout=out)
    return out.getvalue()


def secret_key(output: str) -> str:
    (line,) = [line for line in output.splitlines() if "secret key sk_" in line]
    return line.split("secret key ")[1].split()[0]


def test_every_run_prints_a_secret_key_that_works(client):
    first, second = seed(), seed()
    assert "Sample data is already there." in second
    key = secret_key(second)
    assert key == secret_key(first)
    response = client.get(f"{API}/traces", **bearer(key))
    assert response.status_code == 200
    assert len(response.json()["results"]) == 8


def test_the_seeded_pairs_teach_whole_answers(client):
    seed()
    pairs = list(PreferencePair.objects.all())
    assert pairs, "the seed makes edit pairs"
    json_pairs = [p for p in pairs if "JSON" in p.prompt]
    assert len(json_pairs) == 1
    assert json.loads(json_pairs[0].chosen) == {"name": "Ada Lovelace", "born": 1815}
    for pair in pairs:
        assert pair.chosen.rstrip().endswith((".", "}")), pair.chosen
    dpo = Dataset.objects.get(name="DPO pairs")
    assert DatasetItem.objects.filter(dataset=dpo).count() == len(pairs)
