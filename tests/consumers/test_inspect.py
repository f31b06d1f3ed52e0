"""inspect-ai on the `inspect` export: `json_dataset` reads it with no field mapping (ids, targets,
messages as they were exported) and one eval with inspect's mock model scores every sample, read
back from the EvalLog by id.
"""

import pytest
from consumer_support import ROLES


@pytest.fixture(scope="module")
def samples(exports_dir):
    from inspect_ai.dataset import json_dataset

    return list(json_dataset(str(exports_dir / "inspect.jsonl")))


def test_json_dataset_reads_every_row_with_its_id_and_target(exports, samples):
    rows = exports("inspect")
    assert len(samples) == len(rows)
    assert [s.id for s in samples] == [row.get("id") for row in rows]
    no_id = [i for i, s in enumerate(samples, 1) if s.id is None or s.id == ""]
    assert not no_id, f"samples without an id (rows {no_id}): results can't be matched to items"
    assert len({s.id for s in samples}) == len(samples), "ids repeat"
    empty = [
        s.id
        for s in samples
        if not (s.target if isinstance(s.target, str) else "".join(s.target)).strip()
    ]
    assert not empty, f"samples with an empty target: {empty}"


def test_json_dataset_keeps_the_conversation_as_chat_messages(exports, samples):
    for row, sample in zip(exports("inspect"), samples, strict=True):
        if isinstance(row["input"], str):  # a one-shot item
            assert sample.input == row["input"] and sample.input.strip()
            continue
        assert [m.role for m in sample.input] == [m["role"] for m in row["input"]]
        assert all(m.role in ROLES for m in sample.input)
        assert [m.text for m in sample.input] == [m["content"] for m in row["input"]]
        assert sample.input[-1].role == "user", f"{sample.id}: the input must end with the user"
        assert isinstance(sample.metadata, dict)


def test_an_eval_with_the_mock_model_scores_every_sample(samples, tmp_path):
    from inspect_ai import Task, eval
    from inspect_ai.model import ModelOutput, ModelUsage
    from inspect_ai.scorer import match
    from inspect_ai.solver import generate

    def echo(messages, tools, tool_choice, config):
        # The mock model answers with the last user turn: items that expect it pass, others fail.
        # The usage is given: without it the mock model counts tokens with tiktoken's o200k_base,
        # which it would download (this machine reaches package registries only).
        last_user = next(m for m in reversed(messages) if m.role == "user")
        output = ModelOutput.from_content(model="mockllm", content=last_user.text)
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    task = Task(dataset=samples, solver=generate(), scorer=match(location="exact"))
    [log] = eval(
        task,
        model="mockllm/model",
        model_args={"custom_outputs": echo},
        log_dir=str(tmp_path),
        display="none",
        max_connections=4,
    )
    assert log.status == "success", log.error
    scored = {s.id: s.scores for s in log.samples}
    assert sorted(scored, key=str) == sorted((s.id for s in samples), key=str)
    assert all(len(scores) == 1 for scores in scored.values()), "one score per sample"
    values = [next(iter(scores.values())).value for scores in scored.values()]
    assert set(values) <= {"C", "I"}, values
    # Scores read back from the log file, not only from memory.
    from inspect_ai.log import read_eval_log

    again = read_eval_log(log.location)
    assert [s.id for s in again.samples] == [s.id for s in log.samples]
    print(f"inspect scores: {values.count('C')} correct, {values.count('I')} incorrect")
