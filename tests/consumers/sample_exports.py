"""Hand-made export files, in exactly the formats the consumer tests take, for working on the tests
before the real exporter writes them (and for showing what each test catches: ``--defect``).

    python tests/consumers/sample_exports.py DIR [--defect NAME]

writes into DIR: dpo.jsonl (conversational), dpo-text.jsonl (standard text form),
openai-chat.jsonl and openai-preference.jsonl with their .manifest.jsonl, inspect.jsonl,
promptfoo.jsonl and jsonl.jsonl.
The tests never import this module: they read whatever files DIR holds (``--exports DIR``).

The eval set (openai-chat, inspect, promptfoo, jsonl) and the pair set (dpo, openai-preference) are
the same 13 conversations, each with the system prompt; dpo-text is 12 one-shot pairs. One eval
item (item-13) expects exactly its last user turn, so an echo provider passes it and fails the rest.
"""

import argparse
import json
import sys
from pathlib import Path

SYSTEM = (
    "You are DocsBot, the assistant of the Acme ML platform. Answer in GitHub-flavoured Markdown, "
    "cite the page you used as `docs/<page>`, and say so when you are not sure. If the user sends "
    "only the word `ping`, answer with exactly that word."
)

# id, [user, assistant, user, (assistant, user)], expected (chosen), the model's output (rejected)
CONVERSATIONS = [
    (
        "item-1",
        [
            "What does DPO stand for?",
            "**DPO** stands for *Direct Preference Optimization*.",
            "Explain it in one line",
        ],
        "DPO fine-tunes a policy directly on preference pairs, with no separate reward model "
        "(`docs/training#dpo`).",
        "DPO is a kind of reinforcement learning.",
    ),
    (
        "item-2",
        [
            "How do I export a dataset?",
            "Use the admin's **Datasets** page or the `export_dataset` command.",
            "Which formats are there?",
            "JSON Lines, CSV, DPO pairs and the OpenAI formats.",
            "Which one do I give to TRL for DPO?",
        ],
        "Use `dpo`:\n\n- conversational rows (`prompt`, `chosen`, `rejected` as messages) for "
        "chat models;\n- `--dpo-form text` for one-shot prompts.\n\nSee `docs/exports#dpo`.",
        "Any of them works.",
    ),
    (
        "item-3",
        [
            "Our eval set has 400 items.",
            "Good. Do you want to split it?",
            "Yes, 10% test, but users must not leak across the split.",
        ],
        "Split by user:\n\n```bash\npython manage.py export_dataset evals --split test=0.1 "
        "--split-by user\n```\n\nEvery user's items land on one side (`docs/exports#splits`).",
        "Shuffle the file and take the last 40 lines.",
    ),
    (
        "item-4",
        [
            "What is a chat template?",
            "A Jinja template that turns a list of messages into the model's prompt text.",
            "Why does TRL need one for conversational DPO?",
        ],
        "TRL renders `prompt` with the generation prompt and `prompt + chosen` without it; the "
        "template decides the exact tokens, so it must render the prompt **the same way** in both "
        "(`docs/training#templates`).",
        "It doesn't, templates are optional.",
    ),
    (
        "item-5",
        [
            "Can I redact e-mail addresses on export?",
            "Yes: set `EXPORT_REDACTOR`.",
            "And phone numbers?",
            "The built-in redactor handles e-mail, phone and card numbers.",
            "Show me the setting",
        ],
        "```python\nFEEDBACK_LOOP = {\n"
        '    "EXPORT_REDACTOR": "feedback_loop.exports.redact_pii",\n}\n'
        "```\n\nIt runs on every text field (`docs/settings#export_redactor`).",
        "Redaction is not supported.",
    ),
    (
        "item-6",
        [
            "Why did 4 of my items vanish from openai-chat?",
            "Probably they have no expected output.",
            "How do I see which ones?",
        ],
        "The export's summary counts them: look for **left out: no expected output** in the "
        "command output or the `X-Export-Left-Out` header (`docs/exports#checks`).",
        "Rows are never dropped.",
    ),
    (
        "item-7",
        [
            "How many examples does OpenAI need for fine-tuning?",
            "At least 10.",
            "What happens with 6?",
        ],
        "The job is rejected: OpenAI requires **at least 10 examples**, and the export warns "
        "before writing such a file (`docs/exports#openai`).",
        "It trains anyway, just less well.",
    ),
    (
        "item-8",
        [
            "What's the difference between chosen and rejected?",
            "`chosen` is the preferred answer, `rejected` the other one.",
            "Where do they come from here?",
            "From edits, ratings and regenerations.",
            "Give me the edit case",
        ],
        "For an edit, **chosen** is the user's edited text and **rejected** the model's original "
        "answer, both as Markdown source (`docs/pairs#edits`).",
        "The rejected answer is the edit.",
    ),
    (
        "item-9",
        [
            "Does inspect-ai read the inspect export directly?",
            "Yes, with `json_dataset`.",
            "Which fields?",
        ],
        "`id`, `input` (the messages), `target` (the expected answer) and `metadata`; no field "
        "mapping needed (`docs/exports#inspect`).",
        "Only `input`.",
    ),
    (
        "item-10",
        [
            "I ran promptfoo and everything passed.",
            "Which export did you use?",
            "The jsonl one. Is that fine?",
        ],
        "No: plain `jsonl` has no assertions, so every test passes **vacuously**. Use the "
        "`promptfoo` format, whose `assert` holds the expected output (`docs/exports#promptfoo`).",
        "Yes, all passed means it works.",
    ),
    (
        "item-11",
        [
            "How long can an input be?",
            "There is a length budget per row.",
            "What happens to a 133,889-character input?",
        ],
        "It is counted as **over budget** in the export summary and, unless you keep such rows, "
        "left out (`docs/exports#checks`).",
        "It is exported as is.",
    ),
    (
        "item-12",
        [
            "Can traces hold a whole conversation?",
            "Yes, pass `messages` to `record_trace`.",
            "Is the system prompt kept?",
        ],
        "Yes: `messages` keeps the system prompt and every earlier turn, and the exports carry "
        "them all (`docs/traces#messages`).",
        "Only the last user message is kept.",
    ),
    (
        "item-13",
        [
            "Are you there?",
            "Yes. How can I help?",
            "ping",
        ],
        "ping",
        "Pong! How can I help you today?",
    ),
]

ONE_SHOT = [
    (
        "item-101",
        "Explain DPO in one line",
        "DPO fine-tunes a policy directly on preference pairs.",
        "DPO is RL.",
    ),
    (
        "item-102",
        "What is a reward model?",
        "A model that scores answers; **RLHF** trains one, DPO does not.",
        "A model.",
    ),
    (
        "item-103",
        "Name two eval harnesses.",
        "- inspect-ai\n- promptfoo",
        "pytest",
    ),
    (
        "item-104",
        "What does SFT train on?",
        "On demonstrations: the whole conversation with the assistant's answer as the target.",
        "On rewards.",
    ),
    (
        "item-105",
        "Why keep the system prompt in training data?",
        "Because the production model always sees it; training without it trains on a "
        "**different context**.",
        "It does not matter.",
    ),
    ("item-106", "What is a JSONL file?", "JSON Lines: one JSON object per line.", "A CSV."),
    (
        "item-107",
        "How do I count tokens offline?",
        "With a tokenizer that ships its vocabulary, e.g. `tokenizers` trained locally.",
        "You can't.",
    ),
    (
        "item-108",
        "What is a chat template?",
        "A Jinja template that renders messages as the model's prompt text.",
        "A CSS file.",
    ),
    (
        "item-109",
        "When is a split leaky?",
        "When one user's items land on both sides: the test set then measures memory.",
        "Never.",
    ),
    (
        "item-110",
        "Summarize the feedback loop in one sentence",
        "Capture feedback on answers, curate it into datasets, export them for training and evals.",
        "It loops.",
    ),
    (
        "item-111",
        "What does the echo provider do?",
        "It returns the rendered prompt as the output, which makes assertions deterministic.",
        "It calls OpenAI.",
    ),
    (
        "item-112",
        "Give one sign of a vacuous eval",
        "Every test passed and none had an assertion.",
        "Low scores.",
    ),
]

DEFECTS = {
    "dpo-text-glued": "dpo-text: prompt and completion glued with no separator (the original bug)",
    "dpo-text-prompt-trailing-space": "dpo-text: the separator is a space at the end of the prompt",
    "dpo-text-prompt-blank-line": "dpo-text: the prompt ends with a blank line, no space",
    "dpo-no-system": "dpo: the conversational prompt has lost its system message",
    "dpo-prompt-one-string": "dpo: the prompt is the last user turn as one string (the old export)",
    "dpo-prompt-ends-with-assistant": "dpo: the prompt ends with the assistant turn being judged",
    "openai-chat-no-assistant": "openai-chat: rows end with the user turn, no assistant answer",
    "openai-chat-extra-key": "openai-chat: rows carry an `id` key beside `messages`",
    "openai-chat-empty-expected": "openai-chat: an item without an expected output exported as ''",
    "openai-chat-too-long": "openai-chat: a 133,889-character input exported as is",
    "openai-preference-user-wrapped": "openai-preference: input is the input text as one user turn",
    "openai-too-few": "openai-chat and openai-preference: 6 examples (OpenAI needs 10)",
    "manifest-shuffled": "openai-chat manifest: ids in another order than the rows",
    "inspect-empty-target": "inspect: items without an expected output have target ''",
    "inspect-no-id": "inspect: rows without `id`",
    "promptfoo-no-assert": "promptfoo: tests with no `assert` (every run passes vacuously)",
    "promptfoo-input-not-last-turn": "promptfoo: vars.input is the first user turn, not the last",
    "jsonl-no-output": "jsonl: the model's original output is missing",
}


def message(role, content):
    return {"role": role, "content": content}


def conversation(turns):
    roles = ["user", "assistant"] * len(turns)
    return [message("system", SYSTEM)] + [message(r, t) for r, t in zip(roles, turns, strict=False)]


def build(defect=None):
    files = {}
    # Conversational DPO (TRL's conversational preference format).
    dpo = []
    for item_id, turns, expected, output in CONVERSATIONS:
        prompt = conversation(turns)
        if defect == "dpo-no-system":
            prompt = prompt[1:]
        if defect == "dpo-prompt-one-string":
            prompt = turns[-1]
        if defect == "dpo-prompt-ends-with-assistant":
            prompt = [*prompt, message("assistant", expected)]
        dpo.append(
            {
                "id": item_id,
                "prompt": prompt,
                "chosen": [message("assistant", expected)],
                "rejected": [message("assistant", output)],
            }
        )
    files["dpo.jsonl"] = dpo

    # Standard (text) DPO: the prompt ends on a non-space character, each completion starts with
    # one space (TRL's own example: "The sky is" + " blue.").
    text = []
    for item_id, prompt, chosen, rejected in ONE_SHOT:
        row = {"id": item_id, "prompt": prompt, "chosen": " " + chosen, "rejected": " " + rejected}
        if defect == "dpo-text-glued":
            row.update(chosen=chosen, rejected=rejected)
        if defect == "dpo-text-prompt-trailing-space":
            row.update(prompt=prompt + " ", chosen=chosen, rejected=rejected)
        if defect == "dpo-text-prompt-blank-line":
            row.update(prompt=prompt + "\n\n", chosen=chosen, rejected=rejected)
        text.append(row)
    files["dpo-text.jsonl"] = text

    # OpenAI supervised fine-tuning and the eval formats: one row per item of the eval set.
    chat, inspect, promptfoo, generic = [], [], [], []
    for item_id, turns, expected, output in CONVERSATIONS:
        messages = conversation(turns)
        empty = item_id == "item-6"  # an item without an expected output, under two defects
        chat_target = "" if empty and defect == "openai-chat-empty-expected" else expected
        inspect_target = "" if empty and defect == "inspect-empty-target" else expected
        chat_messages = list(messages)
        if defect == "openai-chat-too-long" and item_id == "item-11":
            chat_messages[-1] = message("user", ("lorem ipsum dolor sit amet " * 5000)[:133_889])
        if defect != "openai-chat-no-assistant":
            chat_messages.append(message("assistant", chat_target))
        row = {"messages": chat_messages}
        if defect == "openai-chat-extra-key":
            row["id"] = item_id
        chat.append(row)

        metadata = {
            "source_trace_id": f"tr-{item_id[5:]:0>4}",
            "output": output,
            "turns": len(turns),
        }
        inspect_row = {
            "id": item_id,
            "input": messages,
            "target": inspect_target,
            "metadata": metadata,
        }
        if defect == "inspect-no-id":
            del inspect_row["id"]
        inspect.append(inspect_row)

        last_user = turns[-1] if defect != "promptfoo-input-not-last-turn" else turns[0]
        test = {
            "description": item_id,
            "vars": {"id": item_id, "input": last_user, "messages": json.dumps(messages)},
            "assert": [{"type": "equals", "value": expected}],
            "metadata": metadata,
        }
        if defect == "promptfoo-no-assert":
            del test["assert"]
        promptfoo.append(test)

        generic_row = {
            "id": item_id,
            "input": turns[-1],
            "messages": messages,
            "expected_output": expected,
            "output": output,
            "metadata": metadata,
            "source_trace_id": metadata["source_trace_id"],
        }
        if defect == "jsonl-no-output":
            del generic_row["output"]
        generic.append(generic_row)
    files["openai-chat.jsonl"] = chat
    files["inspect.jsonl"] = inspect
    files["promptfoo.jsonl"] = promptfoo
    files["jsonl.jsonl"] = generic

    preference = []
    for _, turns, expected, output in CONVERSATIONS:
        messages = conversation(turns)
        if defect == "openai-preference-user-wrapped":
            messages = [message("user", turns[-1])]
        preference.append(
            {
                "input": {"messages": messages},
                "preferred_output": [message("assistant", expected)],
                "non_preferred_output": [message("assistant", output)],
            }
        )
    files["openai-preference.jsonl"] = preference

    ids = [{"id": item_id} for item_id, *_ in CONVERSATIONS]
    files["openai-chat.manifest.jsonl"] = list(ids)
    files["openai-preference.manifest.jsonl"] = list(ids)
    if defect == "manifest-shuffled":
        files["openai-chat.manifest.jsonl"] = ids[1:] + ids[:1]
    if defect == "openai-too-few":
        for name in ("openai-chat", "openai-preference"):
            files[f"{name}.jsonl"] = files[f"{name}.jsonl"][:6]
            files[f"{name}.manifest.jsonl"] = files[f"{name}.manifest.jsonl"][:6]
    return files


def write(directory, defect=None):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in build(defect).items():
        with open(directory / name, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--defect", choices=sorted(DEFECTS), help="inject one known defect")
    parser.add_argument("--list-defects", action="store_true")
    args = parser.parse_args(argv)
    if args.list_defects:
        for name, what in DEFECTS.items():
            print(f"{name:34} {what}")
        return 0
    write(args.directory, args.defect)
    print(
        f"sample exports written to {args.directory}"
        + (f" with defect {args.defect}" if args.defect else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
