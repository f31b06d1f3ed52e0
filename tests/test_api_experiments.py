"""The server API's experiments: list, read, results, comparison, and starting one (run by the
``run_experiment`` Celery task: eagerly here, and once by a real worker over Redis on
PostgreSQL), with the permissions of the rest of the API."""

import json
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import override_settings

import feedback_loop
from feedback_loop.conf import validate
from feedback_loop.models import Dataset, DatasetVersion, Experiment, ExperimentResult, Project
from tests.conftest import API, Api, celery_broker
from tests.factories import DatasetItemFactory
from tests.test_access import ALL, call, staff

pytestmark = pytest.mark.django_db

TASK = "tests.test_api_experiments:answer"
BETTER = "tests.test_api_experiments.answer_better"
CAPITALS = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid"}


def answer(item):
    """The task under test: right for three capitals, wrong for Spain."""
    country = item.input.split()[-1].rstrip("?")
    return "Barcelona" if country == "Spain" else CAPITALS[country]


def answer_better(item):
    return CAPITALS[item.input.split()[-1].rstrip("?")]


def answer_breaking(item):
    if "Italy" in item.input:
        raise RuntimeError("the model timed out")
    return answer_better(item)


def add_items(dataset: Dataset) -> None:
    for country, capital in CAPITALS.items():
        DatasetItemFactory(dataset=dataset, input=f"Capital of {country}?", expected_output=capital)


@pytest.fixture
def dataset(project):
    dataset = Dataset.objects.create(project=project, name="capitals")
    add_items(dataset)
    return dataset


@pytest.fixture
def runs(dataset):
    """Two finished experiments on the same version, the second with the first as baseline."""
    first = feedback_loop.evaluate(
        dataset, answer, scorers=["exact", "contains"], name="v1", metadata={"model": "a"}
    )
    second = feedback_loop.evaluate(
        dataset,
        answer_breaking,
        scorers=["exact", "contains"],
        name="v2",
        version=first.version.number,
        baseline=first,
        metadata={"model": "b"},
    )
    return first, second


def allowed(*tasks):
    return override_settings(FEEDBACK_LOOP={"EVAL_TASKS": list(tasks or [TASK, BETTER])})


# -- reading ---------------------------------------------------------------------------------


def test_the_list_is_newest_first_filtered_and_paginated(api, project, dataset, runs):
    first, second = runs
    other = Dataset.objects.create(project=project, name="other")
    add_items(other)
    third = feedback_loop.evaluate(other, answer, scorers=["exact"], name="other run")

    listed = api.get("/experiments")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [third.pk, second.pk, first.pk]
    only = api.get("/experiments", {"dataset": dataset.pk})
    assert [row["name"] for row in only.json()["results"]] == ["v2", "v1"]
    assert api.get("/experiments", {"status": "pending"}).json()["results"] == []
    assert len(api.get("/experiments", {"status": "finished"}).json()["results"]) == 3

    page = api.get("/experiments", {"page_size": 2}).json()
    assert [row["id"] for row in page["results"]] == [third.pk, second.pk]
    rest = api.get(page["next"]).json()
    assert [row["id"] for row in rest["results"]] == [first.pk]

    for params, field in [
        ({"status": "done"}, "status"),
        ({"dataset": "x"}, "dataset"),
        ({"page_size": 0}, "page_size"),
    ]:
        response = api.get("/experiments", params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]["fields"]
    unknown = api.get("/experiments", {"datset": 1})
    assert unknown.status_code == 400
    assert "'datset'" in unknown.json()["error"]["message"]


def test_one_experiment_has_its_summary_baseline_version_metadata_and_counts(api, runs):
    first, second = runs

    response = api.get(f"/experiments/{second.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == second.pk and body["name"] == "v2"
    assert urlsplit(body["url"]).path == f"{API}/experiments/{second.pk}"
    assert body["baseline"] == first.pk
    assert body["version"] == first.version.number == 1
    assert body["dataset"] == second.dataset_id and body["dataset_name"] == "capitals"
    assert body["task"].endswith("answer_breaking") and body["scorers"] == ["exact", "contains"]
    assert body["metadata"] == {"model": "b"}
    assert body["status"] == "finished" and body["finished_at"]
    assert (body["item_count"], body["result_count"], body["error_count"]) == (4, 4, 1)
    assert body["summary"]["scorers"]["exact"] == {
        "mean": 0.75, "passed": 3, "scored": 4, "skipped": 0,
    }  # fmt: skip
    assert body["summary"]["errors"] == 1
    assert api.get(f"/experiments/{first.pk}").json()["baseline"] is None

    for missing in ("999999", "abc", "-1", "1.0"):
        response = api.get(f"/experiments/{missing}")
        assert response.status_code == 404, missing
        assert response.json()["error"]["code"] == "not_found"


def test_results_item_by_item_and_only_the_failed_ones(api, runs):
    first, second = runs

    response = api.get(f"/experiments/{first.pk}/results")

    assert response.status_code == 200
    # In the order they were written (the task runs items in parallel).
    rows = sorted(response.json()["results"], key=lambda row: int(row["item_id"]))
    assert [row["expected_output"] for row in rows] == list(CAPITALS.values())
    spain = rows[-1]
    assert spain["input"] == "Capital of Spain?" and spain["output"] == "Barcelona"
    assert spain["scores"]["exact"]["value"] == 0.0 and spain["scores"]["exact"]["reason"]
    assert spain["failed"] is True and spain["error"] == ""
    assert [row["failed"] for row in rows] == [False, False, False, True]

    failed = api.get(f"/experiments/{first.pk}/results", {"failed": "true"}).json()["results"]
    assert [row["output"] for row in failed] == ["Barcelona"]
    # An error fails an item too, whatever its scores.
    failed = api.get(f"/experiments/{second.pk}/results", {"failed": "true"}).json()["results"]
    assert [row["error"] for row in failed] == ["RuntimeError: the model timed out"]
    everything = api.get(f"/experiments/{second.pk}/results", {"failed": "false"})
    assert len(everything.json()["results"]) == 4

    page = api.get(f"/experiments/{first.pk}/results", {"page_size": 3}).json()
    rest = api.get(page["next"]).json()["results"]
    assert len(page["results"]) == 3 and len(rest) == 1
    assert {row["id"] for row in page["results"] + rest} == {row["id"] for row in rows}
    assert api.get(f"/experiments/{first.pk}/results", {"failed": "yes"}).status_code == 400
    assert api.get("/experiments/999999/results").status_code == 404


def test_failed_results_skip_scores_that_did_not_apply(api, dataset):
    DatasetItemFactory(dataset=dataset, input="Capital of Spain?", expected_output="")
    experiment = feedback_loop.evaluate(dataset, answer_better, scorers=["exact", "contains:a"])
    skipped = ExperimentResult.objects.get(experiment=experiment, scores__exact__value=None)

    rows = api.get(f"/experiments/{experiment.pk}/results", {"failed": "true"}).json()["results"]

    # "contains:a" fails Berlin and Rome; the item without an expected output skipped "exact".
    assert sorted(row["output"] for row in rows) == ["Berlin", "Rome"]
    assert skipped.item_id not in {row["item_id"] for row in rows}


def test_compare_with_its_own_baseline_or_another(api, project, dataset, runs):
    first, second = runs

    response = api.get(f"/experiments/{second.pk}/compare")

    assert response.status_code == 200
    body = response.json()
    assert (body["experiment"], body["baseline"], body["tolerance"]) == (second.pk, first.pk, 0.05)
    italy = ExperimentResult.objects.get(experiment=second, error__startswith="Runtime").item_id
    spain = ExperimentResult.objects.get(experiment=first, output="Barcelona").item_id
    assert body["regressed_items"] == [italy]
    exact = {row["scorer"]: row for row in body["scorers"]}["exact"]
    assert (exact["mean"], exact["baseline_mean"], exact["delta"]) == (0.75, 0.75, 0.0)
    assert exact["improved"] == [spain] and exact["regressed"] == [italy]
    assert exact["unchanged"] == 2
    assert (body["only_here"], body["only_baseline"]) == (0, 0)

    reverse = api.get(f"/experiments/{first.pk}/compare", {"baseline": second.pk}).json()
    assert reverse["baseline"] == second.pk and reverse["regressed_items"] == [spain]
    lenient = api.get(f"/experiments/{second.pk}/compare", {"tolerance": 1}).json()
    assert lenient["regressed_items"] == [] and lenient["tolerance"] == 1

    none = api.get(f"/experiments/{first.pk}/compare")
    assert none.status_code == 400
    assert "no baseline" in none.json()["error"]["fields"]["baseline"][0]
    other = Dataset.objects.create(project=project, name="other")
    add_items(other)
    elsewhere = feedback_loop.evaluate(other, answer, scorers=["exact"])
    crossed = api.get(f"/experiments/{first.pk}/compare", {"baseline": elsewhere.pk})
    assert crossed.status_code == 400
    assert "another dataset" in crossed.json()["error"]["fields"]["baseline"][0]
    for params in ({"baseline": 999999}, {"baseline": "x"}, {"tolerance": 2}):
        response = api.get(f"/experiments/{second.pk}/compare", params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "invalid"


# -- starting ----------------------------------------------------------------------------------


def test_post_starts_an_experiment_that_eager_celery_finishes(api, dataset, runs):
    _first, second = runs
    with allowed():
        response = api.post(
            "/experiments",
            {
                "dataset": dataset.pk,
                "task": BETTER,
                "scorers": ["exact", "contains:Par", "length:2", "exact"],
                "name": "v3",
                "version": 1,
                "baseline": "latest",
                "metadata": {"prompt": "v3", "nested": {"n": [1, None]}},
                "concurrency": 2,
            },
        )

    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"]
    experiment = Experiment.objects.get(pk=body["id"])
    assert (body["name"], body["task"], body["version"]) == ("v3", BETTER, 1)
    assert body["baseline"] == second.pk  # the newest finished one
    assert body["metadata"] == {"prompt": "v3", "nested": {"n": [1, None]}}
    assert body["status"] == "finished" == experiment.status  # eager: done within the request
    assert (body["item_count"], body["result_count"], body["error_count"]) == (4, 4, 0)
    assert body["summary"]["scorers"]["exact"]["mean"] == 1.0
    assert experiment.scorers == ["exact", "contains:Par", "length:2"]
    assert api.get(body["url"]).json()["summary"] == body["summary"]
    compared = api.get(f"/experiments/{experiment.pk}/compare").json()
    assert compared["baseline"] == second.pk and compared["regressed_items"] == []

    with allowed():
        fresh = api.post(
            "/experiments", {"dataset": dataset.pk, "task": TASK, "scorers": ["exact"]}
        )
    assert fresh.status_code == 202
    assert fresh.json()["version"] == 2  # frozen for it
    assert fresh.json()["baseline"] is None
    assert fresh.json()["name"] == "answer on capitals v2"  # the task's function, the version
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 2


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"task": "tests.test_api_experiments:answer_breaking"}, "task", [TASK, BETTER]),
        ({"task": "os.system"}, "task", ["allowed tasks"]),
        ({"task": 42}, "task", ["allowed tasks"]),
        ({"scorers": ["exactly"]}, "scorers", ["no scorer named 'exactly'", "built-in"]),
        ({"scorers": ["length:long"]}, "scorers", ["scorer 'length:long'"]),
        ({"scorers": ["os.path:exists"]}, "scorers", ["does not run"]),
        ({"scorers": ["regex:(a+)+$"]}, "scorers", ["does not run"]),
        ({"scorers": ["json_schema:/etc/passwd"]}, "scorers", ["does not run"]),
        ({"scorers": ["judge"]}, "scorers", ["EVAL_JUDGE"]),
        ({"scorers": ["length:1e9"]}, "scorers", ["Not a scorer the API runs"]),
        ({"scorers": []}, "scorers", []),
        ({"scorers": "exact"}, "scorers", []),
        ({"dataset": 999999}, "dataset", ["No dataset"]),
        ({"dataset": "1; drop"}, "dataset", []),
        ({"version": 7}, "version", ["no such version"]),
        ({"baseline": 999999}, "baseline", ["No experiment"]),
        ({"baseline": "newest"}, "baseline", ["latest"]),
        ({"baseline": True}, "baseline", []),
        ({"concurrency": 0}, "concurrency", []),
        ({"concurrency": 1000}, "concurrency", []),
        ({"metadata": [1]}, "metadata", []),
        ({"name": ""}, "name", []),
    ],
)
def test_post_refuses_what_it_cannot_run_with_a_400_naming_the_field(
    api, dataset, body, field, words
):
    request = {"dataset": dataset.pk, "task": TASK, "scorers": ["exact"], **body}
    with allowed():
        response = api.post("/experiments", request)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]
    message = json.dumps(error["fields"][field])
    for word in words:
        assert word in message, (word, message)
    assert not Experiment.objects.exists()
    assert not DatasetVersion.objects.exists()  # nothing frozen for a refused request


def test_post_refuses_a_dataset_of_another_project_or_without_items(api, dataset):
    theirs, _ = Project.create("Theirs")
    their_set = Dataset.objects.create(project=theirs, name="theirs")
    add_items(their_set)
    empty = Dataset.objects.create(project=dataset.project, name="empty")

    with allowed():
        foreign = api.post(
            "/experiments", {"dataset": their_set.pk, "task": TASK, "scorers": ["exact"]}
        )
        hollow = api.post("/experiments", {"dataset": empty.pk, "task": TASK, "scorers": ["exact"]})

    assert foreign.status_code == 400
    assert "No dataset" in foreign.json()["error"]["fields"]["dataset"][0]
    assert hollow.status_code == 400
    assert "no items" in hollow.json()["error"]["fields"]["dataset"][0]
    assert not Experiment.objects.exists() and not DatasetVersion.objects.exists()


def test_without_eval_tasks_the_api_starts_nothing(api, dataset):
    response = api.post("/experiments", {"dataset": dataset.pk, "task": TASK, "scorers": ["exact"]})

    assert response.status_code == 403
    assert "EVAL_TASKS" in response.json()["error"]["message"]
    assert not Experiment.objects.exists()


def test_a_broker_that_is_down_is_a_503_and_the_experiment_is_marked_failed(api, dataset):
    with allowed(), celery_broker("redis://127.0.0.1:9/0"):
        response = api.post(
            "/experiments", {"dataset": dataset.pk, "task": TASK, "scorers": ["exact"]}
        )

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
    assert Experiment.objects.get().status == "failed"


def test_the_worker_task_runs_only_a_listed_task_and_skips_a_finished_experiment(dataset):
    from feedback_loop.evaluation import runner
    from feedback_loop.tasks import run_experiment

    experiment = runner.start(dataset, TASK, ["exact"])
    with allowed(BETTER):
        assert run_experiment.apply(args=(experiment.pk, 2)).get() == "failed"
    assert not experiment.results.exists()
    experiment.status = "pending"
    experiment.save()
    with allowed():
        assert run_experiment.apply(args=(experiment.pk, 2)).get() == "finished"
        assert run_experiment.apply(args=(experiment.pk, 2)).get() == "finished"
        assert run_experiment.apply(args=(999999, 2)).get() is None
    assert experiment.results.count() == 4


# -- permissions -------------------------------------------------------------------------------


@pytest.fixture
def two_sets(db):
    mine, secret = Project.create("Mine")
    theirs, _ = Project.create("Theirs")
    mine.secret = secret  # for the secret key's test
    sets = []
    for project in (mine, theirs):
        dataset = Dataset.objects.create(project=project, name=f"{project.name} set")
        add_items(dataset)
        sets.append(dataset)
    first = feedback_loop.evaluate(sets[0], answer, scorers=["exact"], name="mine v1")
    second = feedback_loop.evaluate(sets[0], answer_better, scorers=["exact"], baseline=first)
    their_run = feedback_loop.evaluate(sets[1], answer, scorers=["exact"], name="theirs v1")
    return mine, sets, second, their_run


def reads(experiment):
    return [
        "/experiments",
        f"/experiments/{experiment.pk}",
        f"/experiments/{experiment.pk}/results",
        f"/experiments/{experiment.pk}/compare",
    ]


def test_reading_needs_view_experiment_and_starting_add_experiment(client, two_sets):
    mine, sets, second, _ = two_sets
    start = {"dataset": sets[0].pk, "task": TASK, "scorers": ["exact"]}

    client.force_login(staff(perms=["view_dataset", "add_experiment"], projects=[mine]))
    for path in reads(second):
        response = call(client, "GET", path)
        assert response.status_code == 403, path
        assert "feedback_loop.view_experiment" in response.json()["error"]["message"]

    client.force_login(staff(perms=["view_experiment"], projects=[mine]))
    for path in reads(second):
        assert call(client, "GET", path).status_code == 200, path
    with allowed():
        refused = call(client, "POST", "/experiments", start)
    assert refused.status_code == 403
    assert "feedback_loop.add_experiment" in refused.json()["error"]["message"]

    client.force_login(staff(perms=["view_experiment", "add_experiment"], projects=[mine]))
    with allowed():
        started = call(client, "POST", "/experiments", start)
    assert started.status_code == 202
    assert Experiment.objects.get(pk=started.json()["id"]).created_by is not None

    client.logout()
    assert call(client, "GET", "/experiments").status_code in (401, 403)


def test_a_curator_sees_only_their_projects_experiments(client, two_sets):
    mine, sets, second, their_run = two_sets
    client.force_login(staff(perms=ALL, projects=[mine]))

    names = [row["name"] for row in call(client, "GET", "/experiments").json()["results"]]
    assert names == [second.name, "mine v1"]
    for path in reads(their_run)[1:]:
        assert call(client, "GET", path).status_code == 404, path
    crossed = call(client, "GET", f"/experiments/{second.pk}/compare?baseline={their_run.pk}")
    assert crossed.status_code == 400
    named = call(client, "GET", f"/experiments?project={sets[1].project.public_key}")
    assert named.status_code == 403 and "curator" in named.json()["error"]["message"]
    with allowed():
        sneaky = call(
            client,
            "POST",
            "/experiments",
            {"dataset": sets[1].pk, "task": TASK, "scorers": ["exact"]},
        )
    assert sneaky.status_code == 400
    assert not Experiment.objects.filter(dataset=sets[1]).exclude(pk=their_run.pk).exists()

    client.force_login(staff(perms=ALL, projects=[]))
    assert call(client, "GET", "/experiments").json()["results"] == []
    assert call(client, "GET", f"/experiments/{second.pk}").status_code == 404

    client.force_login(staff(superuser=True))
    assert len(call(client, "GET", "/experiments").json()["results"]) == 3


def test_a_secret_key_reads_and_starts_in_its_own_project_only(client, two_sets):
    mine, sets, second, their_run = two_sets
    api = Api(client, mine.secret)

    listed = api.get("/experiments").json()["results"]
    assert [row["name"] for row in listed] == [second.name, "mine v1"]
    for path in reads(their_run)[1:]:
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    with allowed():
        foreign = api.post(
            "/experiments", {"dataset": sets[1].pk, "task": TASK, "scorers": ["exact"]}
        )
        own = api.post("/experiments", {"dataset": sets[0].pk, "task": TASK, "scorers": ["exact"]})
    assert foreign.status_code == 400
    assert own.status_code == 202 and own.json()["project"] == mine.public_key
    assert Experiment.objects.get(pk=own.json()["id"]).created_by is None


# -- settings, index, schema -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "words"),
    [
        ([TASK, BETTER], None),
        ((TASK,), None),
        ([], None),
        ("tests.test_api_experiments:answer", "must be a list"),
        ([42], "not a dotted path"),
        (["answer"], "not a dotted path"),
        (["a:b:c"], "not a dotted path"),
        (["tests.test_api_experiments:nope"], "cannot import"),
        (["tests.no_such_module.answer"], "cannot import"),
        (["tests.test_api_experiments.CAPITALS"], "not a function"),
    ],
)
def test_eval_tasks_are_validated(tasks, words):
    problems = validate({"EVAL_TASKS": tasks})
    if words is None:
        assert problems == []
    else:
        assert len(problems) == 1 and words in problems[0] and "EVAL_TASKS" in problems[0]


def test_the_index_and_the_schema_list_the_experiment_endpoints(client):
    index = client.get(f"{API}/").json()["endpoints"]
    assert index["experiments"]["methods"] == "GET, POST"
    assert index["experiment_compare"]["url"].endswith("/experiments/{id}/compare")

    with allowed():
        document = client.get(f"{API}/schema").json()
    paths = document["paths"]
    assert {"get", "post"} <= set(paths[f"{API}/experiments"])
    for tail in ("/{id}", "/{id}/results", "/{id}/compare"):
        assert "get" in paths[f"{API}/experiments{tail}"], tail
    schemas = document["components"]["schemas"]
    task = schemas["StartExperiment"]["properties"]["task"]
    ref = task.get("$ref") or task["allOf"][0]["$ref"]
    task = schemas[ref.rsplit("/", 1)[-1]]
    assert task["enum"] == [TASK, BETTER]
    assert "202" in paths[f"{API}/experiments"]["post"]["responses"]


# -- a real worker -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eval_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    from tests.services import RedisServer, Worker

    redis = RedisServer()
    redis.start()
    settings = connection.settings_dict
    database_url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    worker = Worker(
        redis.url,
        database_url,
        tmp_path_factory.mktemp("celery-eval"),
        feedback_loop={"EVAL_TASKS": [TASK, BETTER]},
        name="eval",
    )
    try:
        worker.start()
        yield redis, worker
    finally:
        if worker.process is not None:
            worker.stop()
        redis.stop()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_a_real_worker_runs_an_experiment_the_api_started(eval_worker, api, dataset):
    from tests.services import wait_for

    redis, worker = eval_worker
    with allowed(), celery_broker(redis.url):
        response = api.post(
            "/experiments", {"dataset": dataset.pk, "task": TASK, "scorers": ["exact", "contains"]}
        )
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "pending"
        url = response.json()["url"]
        wait_for(
            lambda: api.get(url).json()["status"] == "finished",
            60,
            f"the worker to finish the experiment\n{worker.output()}",
            interval=0.2,
        )
    body = api.get(url).json()
    assert (body["result_count"], body["error_count"]) == (4, 0)
    assert body["summary"]["scorers"]["exact"]["mean"] == 0.75
    assert "feedback_loop.run_experiment" in worker.output()
