"""The OpenAI exports, checked as OpenAI's cookbook "Data preparation and analysis for chat model
fine-tuning" checks a training file (format errors per row, token counts per example), plus the
documented preference-tuning shape, OpenAI's minimum of 10 examples, the system message in every
row, and manifests whose ids line up with the rows (checked against dpo.jsonl and inspect.jsonl).

Token counts: with tiktoken's o200k_base, as the cookbook counts (it uses cl100k_base, the
encoding of its day). tiktoken downloads its encodings, and this machine reaches package registries
only: the ranks come from tiktoken's cache if they are there, else from the js-tiktoken npm package
installed beside promptfoo, checked against the SHA-256 tiktoken expects of the file. Without
either, the local byte-level BPE tokenizer counts, and the report header says so.
"""

from collections import Counter

import pytest
from consumer_support import build_tokenizer, offline_tiktoken, texts_of

MIN_EXAMPLES = 10  # OpenAI rejects a fine-tuning file with fewer
MAX_TOKENS_PER_EXAMPLE = 16_385  # the cookbook warns above this: the example would be truncated
# The cookbook's message keys and roles, plus the tool-calling ones OpenAI's chat format documents.
MESSAGE_KEYS = {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"}
MESSAGE_ROLES = {"system", "user", "assistant", "function", "tool"}
PREFERENCE_KEYS = {"input", "preferred_output", "non_preferred_output"}
PREFERENCE_INPUT_KEYS = {"messages", "tools", "parallel_tool_calls"}


def format_errors(rows, messages_of=lambda row: row.get("messages")):
    """The cookbook's format checks: a Counter of error kinds (empty when the file is clean)."""
    errors = Counter()
    for row in rows:
        if not isinstance(row, dict):
            errors["data_type"] += 1
            continue
        messages = messages_of(row)
        if not messages or not isinstance(messages, list):
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
                if not isinstance(message, dict):
                    continue
            if set(message) - MESSAGE_KEYS:
                errors["message_unrecognized_key"] += 1
            if message.get("role") not in MESSAGE_ROLES:
                errors["unrecognized_role"] += 1
            content = message.get("content")
            calls = message.get("function_call") or message.get("tool_calls")
            if (not content and not calls) or not isinstance(content, str | None):
                errors["missing_content"] += 1
        if not any(m.get("role") == "assistant" for m in messages if isinstance(m, dict)):
            errors["example_missing_assistant_message"] += 1
    return errors


def token_counter(texts):
    """(name, count) where count(text) is a number of tokens."""
    found = offline_tiktoken()
    if found:
        name, encoding = found
        return f"tiktoken {name}", lambda text: len(encoding.encode(text, disallowed_special=()))
    tokenizer = build_tokenizer("bpe", texts)
    return "the local byte-level BPE tokenizer", lambda text: len(tokenizer.tokenize(text))


def num_tokens_from_messages(messages, count, tokens_per_message=3, tokens_per_name=1):
    """The cookbook's estimate: 3 tokens per message, 1 per name, 3 to prime the answer."""
    total = 3
    for message in messages:
        total += tokens_per_message
        for key, value in message.items():
            if isinstance(value, str):
                total += count(value)
            if key == "name":
                total += tokens_per_name
    return total


@pytest.fixture(scope="module")
def counter(exports):
    texts = texts_of(exports("openai-chat")) + texts_of(exports("openai-preference"))
    return token_counter(texts)


def by_id(rows, name):
    found = {}
    for row in rows:
        assert isinstance(row.get("id"), str), f"{name}: a row has no string id"
        found[row["id"]] = row
    return found


# -- openai-chat --------------------------------------------------------------------------------


def test_openai_chat_rows_pass_the_cookbook_format_checks(exports):
    rows = exports("openai-chat")
    errors = format_errors(rows)
    assert not errors, f"openai-chat.jsonl format errors: {dict(errors)}"


def test_openai_chat_rows_hold_exactly_messages_ending_with_the_expected_answer(exports):
    for number, row in enumerate(exports("openai-chat"), 1):
        assert set(row) == {"messages"}, f"row {number}: keys {sorted(row)} (only messages)"
        messages = row["messages"]
        assert messages[-1]["role"] == "assistant", f"row {number}: no answer to train on"
        assert messages[-1]["content"].strip(), f"row {number}: the expected answer is empty"
        assert messages[-2]["role"] == "user", f"row {number}: the answer follows no user turn"


def test_openai_chat_examples_are_under_the_token_limit(exports, counter, record_property):
    name, count = counter
    lengths = [num_tokens_from_messages(row["messages"], count) for row in exports("openai-chat")]
    record_property("token_counter", name)
    too_long = [(i + 1, n) for i, n in enumerate(lengths) if n > MAX_TOKENS_PER_EXAMPLE]
    assert not too_long, (
        f"rows over {MAX_TOKENS_PER_EXAMPLE} tokens (counted with {name}), OpenAI would "
        f"truncate them: {too_long}"
    )


# -- openai-preference --------------------------------------------------------------------------


def test_openai_preference_rows_have_the_documented_shape(exports):
    rows = exports("openai-preference")
    for number, row in enumerate(rows, 1):
        assert set(row) == PREFERENCE_KEYS, f"row {number}: keys {sorted(row)}"
        assert isinstance(row["input"], dict) and "messages" in row["input"], f"row {number}"
        assert set(row["input"]) <= PREFERENCE_INPUT_KEYS, f"row {number}: input {row['input']}"
        messages = row["input"]["messages"]
        assert isinstance(messages, list) and messages, f"row {number}: no input messages"
        assert messages[-1]["role"] == "user", f"row {number}: input must end with a user turn"
        for key in ("preferred_output", "non_preferred_output"):
            output = row[key]
            assert isinstance(output, list) and len(output) == 1, f"row {number}: {key}"
            assert output[0].get("role") == "assistant", f"row {number}: {key} role"
            assert isinstance(output[0].get("content"), str) and output[0]["content"].strip(), (
                f"row {number}: {key} is empty"
            )
        assert row["preferred_output"] != row["non_preferred_output"], f"row {number}: same answers"
    # The cookbook's message checks, on the conversation with the preferred answer.
    errors = format_errors(rows, lambda r: r["input"]["messages"] + r["preferred_output"])
    assert not errors, f"openai-preference.jsonl format errors: {dict(errors)}"


def test_openai_preference_examples_are_under_the_token_limit(exports, counter):
    name, count = counter
    too_long = []
    for number, row in enumerate(exports("openai-preference"), 1):
        for key in ("preferred_output", "non_preferred_output"):
            n = num_tokens_from_messages(row["input"]["messages"] + row[key], count)
            if n > MAX_TOKENS_PER_EXAMPLE:
                too_long.append((number, key, n))
    assert not too_long, f"rows over {MAX_TOKENS_PER_EXAMPLE} tokens ({name}): {too_long}"


# -- both ---------------------------------------------------------------------------------------

OPENAI_FORMATS = {
    "openai-chat": lambda row: row["messages"],
    "openai-preference": lambda row: row["input"]["messages"],
}


@pytest.mark.parametrize("name", OPENAI_FORMATS)
def test_openai_files_have_at_least_10_examples(exports, name):
    assert len(exports(name)) >= MIN_EXAMPLES, (
        f"{name}.jsonl has {len(exports(name))} examples; OpenAI needs at least {MIN_EXAMPLES}"
    )


@pytest.mark.parametrize("name", OPENAI_FORMATS)
def test_every_openai_row_starts_with_the_system_message(exports, name):
    # Every conversation of the exported set has a system prompt: every row must carry it.
    messages_of = OPENAI_FORMATS[name]
    missing = [
        i for i, row in enumerate(exports(name), 1) if messages_of(row)[0]["role"] != "system"
    ]
    assert not missing, f"{name}.jsonl rows without the system message: {missing}"


@pytest.mark.parametrize("name", OPENAI_FORMATS)
def test_openai_manifest_has_one_unique_id_per_row(exports, name):
    manifest = exports(f"{name}.manifest")
    assert len(manifest) == len(exports(name)), f"{name}: manifest and rows differ in number"
    assert all(set(line) >= {"id"} and isinstance(line["id"], str) for line in manifest)
    ids = [line["id"] for line in manifest]
    assert len(set(ids)) == len(ids), f"{name}.manifest.jsonl: ids repeat"


def test_openai_chat_manifest_lines_up_with_the_inspect_items(exports):
    # Row i is the item the manifest names on line i: same conversation, same expected answer.
    inspect = by_id(exports("inspect"), "inspect.jsonl")
    for number, (line, row) in enumerate(
        zip(exports("openai-chat.manifest"), exports("openai-chat"), strict=True), 1
    ):
        item = inspect.get(line["id"])
        assert item is not None, f"row {number}: {line['id']} is not in inspect.jsonl"
        assert row["messages"][-1]["content"] == item["target"], (
            f"row {number} is not {line['id']}: another expected answer"
        )
        if isinstance(item["input"], list):
            assert row["messages"][:-1] == item["input"], f"row {number}: another conversation"


def test_openai_preference_manifest_lines_up_with_the_dpo_pairs(exports):
    dpo = by_id(exports("dpo"), "dpo.jsonl")
    for number, (line, row) in enumerate(
        zip(exports("openai-preference.manifest"), exports("openai-preference"), strict=True), 1
    ):
        pair = dpo.get(line["id"])
        assert pair is not None, f"row {number}: {line['id']} is not in dpo.jsonl"
        assert row["input"]["messages"] == pair["prompt"], f"row {number}: another prompt"
        assert row["preferred_output"] == pair["chosen"], f"row {number}: another chosen"
        assert row["non_preferred_output"] == pair["rejected"], f"row {number}: another rejected"
