"""The generic `jsonl` export: every row carries what an eval harness needs to line results up with
items (a stable id, the conversation, the expected output and the model's original output), and
for a preference set its chosen and rejected answers.
"""

from consumer_support import ROLES, is_message

KEYS = {"id", "input", "messages", "expected_output", "output", "metadata", "source_trace_id"}


def test_jsonl_rows_carry_id_conversation_expected_and_original_output(exports):
    rows = exports("jsonl")
    for number, row in enumerate(rows, 1):
        where = f"jsonl.jsonl row {number} (id={row.get('id')!r})"
        missing = KEYS - set(row)
        assert not missing, f"{where}: missing {sorted(missing)}"
        assert isinstance(row["id"], str) and row["id"], f"{where}: no string id"
        assert isinstance(row["expected_output"], str) and row["expected_output"].strip(), (
            f"{where}: the expected output is empty"
        )
        assert isinstance(row["output"], str), f"{where}: the model's original output is missing"
        assert isinstance(row["metadata"], dict), f"{where}: metadata is not an object"
        messages = row["messages"]
        assert isinstance(messages, list) and messages, f"{where}: no messages"
        assert all(is_message(m) and m["role"] in ROLES for m in messages), f"{where}: messages"
        assert messages[-1]["role"] == "user", f"{where}: messages must end with the user's turn"
        assert row["input"] == messages[-1]["content"], f"{where}: input is not the last user turn"
        if "chosen" in row or "rejected" in row:
            assert row.get("chosen") and row.get("rejected"), f"{where}: half a pair"
    assert len({row["id"] for row in rows}) == len(rows), "jsonl.jsonl: ids repeat"
