"""The built-in scorers, how scorers are named, and what the runner records when a task or a
scorer misbehaves."""

import json
import threading

import pytest
from django.test import override_settings

from feedback_loop import evaluate
from feedback_loop.evaluation import Score
from feedback_loop.evaluation.error_modes import error_mode, shape
from feedback_loop.evaluation.registry import UnknownScorer, resolve
from feedback_loop.internal.datasets import Row
from tests.factories import DatasetFactory, DatasetItemFactory


def item(expected="", output="", modes=(), input_="Q?") -> Row:
    return Row(
        id="1", input=input_, messages=[], expected_output=expected, output=output,
        chosen="", rejected="", metadata={"error_modes": list(modes)}, source_trace_id="t",
    )  # fmt: skip


def score(spec, case, output) -> Score:
    return resolve(spec)[1](case, output)


def test_exact_compares_normalised_text_and_skips_items_without_an_expected_output():
    case = item(expected="Paris.")
    assert score("exact", case, "  PARIS ").value == 1.0
    assert score("exact", case, "\uff30aris").value == 1.0  # full-width P, NFKC
    assert score("exact", case, "Lyon").value == 0.0
    assert score("exact", item(), "Paris") == Score(None, "no expected output")


def test_contains_regex_json_and_length():
    case = item(expected="Paris")
    assert score("contains", case, "It is paris, of course.").value == 1.0
    assert (
        score("contains:Lyon", case, "It is Paris.").reason == "the output does not contain 'Lyon'"
    )
    assert score("regex:^\\d+$", case, "42").value == 1.0
    assert score("regex:^\\d+$", case, "forty-two").value == 0.0
    assert score("json_valid", case, '```json\n{"a": 1}\n```').value == 1.0
    assert score("json_valid", case, "{'a': 1}").reason.startswith("the output is not JSON")
    assert score("length:2", item(expected="12345"), "1234567890").value == 1.0
    too_long = score("length", item(expected="12345"), "1234567890")
    assert too_long == Score(0.0, "10 characters, over 1.5x the expected 5")


def test_json_schema_reads_a_schema_file_and_says_what_does_not_fit(tmp_path):
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps({"type": "object", "required": ["name"]}))
    spec = f"json_schema:{schema}"
    assert score(spec, item(), '{"name": "Ada"}').value == 1.0
    miss = score(spec, item(), '{"age": 36}')
    assert miss.value == 0.0 and "'name' is a required property" in miss.reason


def test_similarity_and_refusal():
    assert score("similarity", item(expected="the cat sat"), "the cat sat").value == 1.0
    partial = score("similarity", item(expected="the cat sat"), "the dog sat")
    assert 0.5 < partial.value < 1.0 and partial.reason.endswith("similar to the expected output")
    assert score("refusal", item(), "I'm sorry, I can't help with that.").value == 0.0
    assert score("refusal", item(), "Here is how.").value == 1.0


def test_scorer_names_that_do_not_exist_say_which_do():
    with pytest.raises(UnknownScorer, match="no scorer named 'exactly'; the built-in scorers are"):
        resolve("exactly")
    with pytest.raises(UnknownScorer, match="scorer 'regex:\\(': "):
        resolve("regex:(")
    with pytest.raises(UnknownScorer, match=r"cannot import the scorer 'nowhere\.module:f'"):
        resolve("nowhere.module:f")
    with pytest.raises(ValueError, match="from 0 to 1"):
        Score(1.5)


@pytest.mark.parametrize(
    ("expected", "output", "value"),
    [
        ('{"name": "Ada"}', '```json\n{"name": "Ada"}\n```', 1.0),
        ('{"name": "Ada"}', "Name: Ada", 0.0),
        ("- red\n- blue", "1. red\n2. blue", 1.0),
        ("- red\n- blue", "red and blue", 0.0),
        ("red and blue", "## Colours\nred and blue", 0.0),
    ],
)
def test_the_format_check_compares_the_shape_of_the_users_version(expected, output, value):
    assert error_mode(item(expected=expected, modes=["format"]), output).value == value


def test_the_error_mode_scorer_runs_every_confirmed_mode_and_names_the_failing_one():
    case = item(expected="Short answer.", output="x" * 400, modes=["length", "refusal"])
    both = error_mode(case, "I'm sorry, I cannot help.")
    assert both.value == 0.0
    assert both.reason == (
        "length: 25 characters, over 16 (the user's version); refusal: the output is a refusal"
    )
    assert error_mode(case, "Short.").value == 1.0
    # Without the user's version, an over-long answer must at least halve.
    alone = item(output="x" * 400, modes=["length"])
    assert error_mode(alone, "y" * 150).value == 1.0
    assert error_mode(alone, "y" * 250).reason.startswith("length: 250 characters, over 200")
    assert error_mode(item(), "anything") == Score(None, "no confirmed error mode")
    unknown = error_mode(item(modes=["tone"]), "anything")
    assert unknown == Score(None, "tone: no check (ERROR_MODE_SCORERS)")


def polite(case, output):
    if "please" in output:
        return Score(1.0, "tone: says please")
    return Score(0.0, "tone: curt")


def test_custom_error_modes_register_their_check():
    with override_settings(FEEDBACK_LOOP={"ERROR_MODE_SCORERS": {"tone": f"{__name__}.polite"}}):
        assert error_mode(item(modes=["tone"]), "Do it.") == Score(0.0, "tone: curt")
        assert error_mode(item(modes=["tone"]), "Do it, please.").value == 1.0


def test_shape_tells_json_from_markdown():
    assert shape("[1, 2]") == {"json"}
    assert shape("| a | b |\n|---|---|") == {"table"}
    assert shape("# Title\n```py\nx\n```") == {"headings", "code block"}
    assert shape("just words") == {"plain text"}


@pytest.mark.django_db
def test_the_runner_takes_async_tasks_runs_them_concurrently_and_records_misbehaving_scorers(
    project,
):
    dataset = DatasetFactory(project=project)
    for n in range(8):
        DatasetItemFactory(dataset=dataset, input=f"q{n}", expected_output=f"a{n}")
    threads = set()
    barrier = threading.Barrier(4, timeout=10)

    async def task(case):
        threads.add(threading.get_ident())
        if case.input in ("q0", "q1", "q2", "q3"):
            barrier.wait()  # four items in flight at once, or this times out
        return "a" + case.input[1:]

    def crashes(case, output):
        raise ZeroDivisionError("division by zero")

    def boolean(case, output):
        return output.startswith("a")

    experiment = evaluate(dataset, task, scorers=["exact", crashes, boolean], concurrency=4)
    assert len(threads) == 4
    assert experiment.summary["scorers"]["exact"]["mean"] == 1.0
    assert experiment.summary["scorers"]["crashes"] == {
        "mean": None, "passed": 0, "scored": 0, "skipped": 8,
    }  # fmt: skip
    result = experiment.results.first()
    assert result.scores["crashes"]["reason"] == (
        "the scorer failed: ZeroDivisionError: division by zero"
    )
    assert result.scores["boolean"]["value"] == 1.0
    assert experiment.task.startswith("tests.test_eval_scorers:test_the_runner_takes_async")
