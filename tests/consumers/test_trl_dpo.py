"""TRL's DPOTrainer on the `dpo` export, conversational (dpo.jsonl) and standard text form
(dpo-text.jsonl): it trains a few steps on a tiny Llama and tokenizers built here, TRL says nothing
about prompt prefixes, and what TRL trains on is the exported prompt followed by the answer, with
nothing cut off or glued.
"""

import copy
import math

import pytest
from consumer_support import (
    ROLES,
    build_tokenizer,
    common_training_args,
    consumer_messages,
    is_message,
    prefix_trouble,
    texts_of,
    tiny_llama,
)

TOKENIZERS = ["bpe", "wordlevel"]


@pytest.fixture(scope="module")
def tokenizers(exports):
    texts = texts_of(exports("dpo")) + texts_of(exports("dpo-text"))
    return {kind: build_tokenizer(kind, texts) for kind in ("bpe", "metaspace-bpe", "wordlevel")}


def prepare(rows, tokenizer, tmp_path, train=True):
    """Give the rows to DPOTrainer as TRL's users do; return (trainer, what it logged, result)."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    columns = [{k: row[k] for k in ("prompt", "chosen", "rejected")} for row in rows]
    model = tiny_llama(tokenizer)
    args = DPOConfig(**common_training_args(tmp_path), max_length=None, beta=0.1)
    with consumer_messages() as messages:
        trainer = DPOTrainer(
            model=model,
            ref_model=copy.deepcopy(model),  # the reference model too is built here, not fetched
            args=args,
            train_dataset=Dataset.from_list(columns),
            processing_class=tokenizer,
        )
        result = trainer.train() if train else None
    return trainer, messages, result


def assert_trained(trainer, result, rows):
    assert len(trainer.train_dataset) == len(rows), (
        f"TRL kept {len(trainer.train_dataset)} of {len(rows)} rows"
    )
    assert result.global_step == 2
    assert math.isfinite(result.training_loss)


def assert_no_prefix_warning(messages):
    trouble = prefix_trouble(messages)
    assert not trouble, "TRL warned about the prompt/completion boundary:\n" + "\n".join(trouble)


# -- conversational form ------------------------------------------------------------------------


def test_dpo_conversational_rows_are_trl_conversational_preference_rows(exports):
    rows = exports("dpo")
    for row in rows:
        where = f"dpo.jsonl id={row.get('id')!r}"
        assert isinstance(row.get("id"), str) and row["id"], f"{where}: no string id"
        prompt = row["prompt"]
        assert isinstance(prompt, list) and prompt, f"{where}: prompt is not a list of messages"
        assert all(is_message(m) and m["role"] in ROLES for m in prompt), f"{where}: bad message"
        assert all(isinstance(m["content"], str) and m["content"] for m in prompt), (
            f"{where}: a prompt message has no content"
        )
        assert prompt[-1]["role"] == "user", f"{where}: the prompt must end with the user's turn"
        for key in ("chosen", "rejected"):
            answer = row[key]
            assert isinstance(answer, list) and len(answer) == 1, f"{where}: {key} is not [message]"
            assert answer[0]["role"] == "assistant" and answer[0]["content"].strip(), (
                f"{where}: {key} is not one non-empty assistant message"
            )
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"], (
            f"{where}: chosen and rejected are the same answer"
        )
    assert len({row["id"] for row in rows}) == len(rows), "dpo.jsonl: ids repeat"


def test_dpo_conversational_prompts_keep_the_system_message_and_earlier_turns(exports):
    rows = exports("dpo")
    no_system = [row["id"] for row in rows if row["prompt"][0]["role"] != "system"]
    assert not no_system, f"dpo.jsonl: prompts without their system message: {no_system}"
    multi_turn = [row["id"] for row in rows if sum(m["role"] == "user" for m in row["prompt"]) > 1]
    assert multi_turn, "dpo.jsonl: no prompt holds an earlier turn (the conversations were cut)"


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_dpo_trainer_trains_on_conversational_rows_with_no_prefix_warning(
    exports, tokenizers, kind, tmp_path
):
    rows = exports("dpo")
    tokenizer = tokenizers[kind]
    trainer, messages, result = prepare(rows, tokenizer, tmp_path)
    assert_no_prefix_warning(messages)
    assert_trained(trainer, result, rows)
    if kind != "bpe":
        return
    # Byte-level BPE decodes to the exact text: what TRL trains on is the whole rendered
    # conversation (system message included), then the chosen answer.
    for row, example in zip(rows, trainer.train_dataset, strict=True):
        prompt = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, tokenize=False
        )
        whole = tokenizer.apply_chat_template(row["prompt"] + row["chosen"], tokenize=False)
        seen_prompt = tokenizer.decode(example["prompt_ids"])
        seen_chosen = tokenizer.decode(example["chosen_ids"])
        assert seen_prompt == prompt, f"id={row['id']}: TRL's prompt is not the exported prompt"
        assert seen_prompt + seen_chosen == whole, f"id={row['id']}: TRL trains on other text"
        assert row["prompt"][0]["content"] in seen_prompt
        assert seen_chosen.startswith(row["chosen"][0]["content"])


# -- standard (text) form -----------------------------------------------------------------------


def test_dpo_text_rows_are_trl_standard_preference_rows(exports):
    rows = exports("dpo-text")
    for row in rows:
        where = f"dpo-text.jsonl id={row.get('id')!r}"
        assert isinstance(row.get("id"), str) and row["id"], f"{where}: no string id"
        for key in ("prompt", "chosen", "rejected"):
            assert isinstance(row.get(key), str) and row[key].strip(), f"{where}: {key} is empty"
    assert len({row["id"] for row in rows}) == len(rows), "dpo-text.jsonl: ids repeat"


def test_dpo_text_prompt_and_completions_meet_at_whitespace(exports):
    # TRL concatenates prompt + chosen with nothing between: the separator must be in the data.
    glued = []
    for row in exports("dpo-text"):
        for key in ("chosen", "rejected"):
            if not (row["prompt"][-1:].isspace() or row[key][:1].isspace()):
                glued.append(f"id={row['id']}: {(row['prompt'][-20:] + row[key][:20])!r}")
    assert not glued, "prompt and completion glued together:\n" + "\n".join(glued)


@pytest.mark.parametrize("kind", [*TOKENIZERS, "metaspace-bpe"])
def test_dpo_trainer_trains_on_text_rows_with_no_prefix_warning(
    exports, tokenizers, kind, tmp_path
):
    rows = exports("dpo-text")
    tokenizer = tokenizers[kind]
    trainer, messages, result = prepare(rows, tokenizer, tmp_path, train=kind != "metaspace-bpe")
    assert_no_prefix_warning(messages)
    if result is not None:
        assert_trained(trainer, result, rows)
    for row, example in zip(rows, trainer.train_dataset, strict=True):
        # TRL's prompt is the whole tokenized prompt: no end of it moved into the completion.
        assert example["prompt_ids"] == tokenizer(row["prompt"])["input_ids"], (
            f"id={row['id']}: TRL cut the end of the prompt"
        )
        if kind == "bpe":
            # Lossless: the prompt, then the separator and the answer, then EOS.
            assert tokenizer.decode(example["prompt_ids"]) == tokenizer.bos_token + row["prompt"]
            seen = tokenizer.decode(example["chosen_ids"])
            assert seen == row["chosen"] + tokenizer.eos_token, f"id={row['id']}: {seen!r}"
        if kind == "wordlevel":
            first_word = tokenizer.convert_ids_to_tokens(example["chosen_ids"][:1])
            assert first_word != [tokenizer.unk_token], (
                f"id={row['id']}: the answer's first word is unknown (glued to the prompt)"
            )


def test_the_prefix_warning_is_seen_when_the_text_form_is_wrong(exports, tokenizers, tmp_path):
    # The detector is live: the same rows with the separator at the end of the prompt (a space
    # there moves into the completion's first token) make TRL warn, and the test would see it.
    rows = [
        dict(
            row,
            prompt=row["prompt"].rstrip() + " ",
            chosen=row["chosen"].lstrip(),
            rejected=row["rejected"].lstrip(),
        )
        for row in exports("dpo-text")
    ]
    _, messages, _ = prepare(rows, tokenizers["bpe"], tmp_path, train=False)
    trouble = prefix_trouble(messages)
    assert trouble and "not a prefix" in " ".join(trouble), messages
