"""The demo's seed: what `make demo` prints and what its data teaches."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from feedback_loop.models import Dataset, DatasetItem, Experiment, PreferencePair
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


def test_the_regression_set_holds_the_rewritten_answers_and_a_first_experiment():
    seed()
    regression = Dataset.objects.get(name="Regression set")
    items = {item.input: item for item in regression.items.all()}
    assert set(items) == {"Give me JSON for Ada Lovelace", "What changed in Django 5.2?"}
    assert items["Give me JSON for Ada Lovelace"].metadata["error_modes"] == ["format"]
    assert json.loads(items["Give me JSON for Ada Lovelace"].expected_output)["born"] == 1815
    (experiment,) = Experiment.objects.all()
    assert (experiment.name, experiment.status) == ("prompt v1", "finished")
    # The stand-in's fenced JSON has the shape of the user's; the made-up answer needs a judge.
    assert experiment.summary["scorers"]["error_mode"] == {
        "mean": 1.0, "passed": 1, "scored": 1, "skipped": 1,
    }  # fmt: skip
