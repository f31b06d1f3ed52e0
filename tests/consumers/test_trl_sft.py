"""TRL's SFTTrainer on the `openai-chat` export (conversational "messages"): it trains a few steps
on a tiny Llama and a tokenizer built here, keeps every row whole, and each training sequence is the
full conversation (system message included) ending with the expected answer.
"""

import math

import pytest
from consumer_support import (
    build_tokenizer,
    common_training_args,
    consumer_messages,
    prefix_trouble,
    texts_of,
    tiny_llama,
)


@pytest.fixture(scope="module")
def tokenizer(exports):
    return build_tokenizer("bpe", texts_of(exports("openai-chat")))


def test_sft_trainer_trains_on_openai_chat_messages(exports, tokenizer, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = exports("openai-chat")
    assert all(set(row) == {"messages"} for row in rows), "openai-chat rows hold only messages"
    args = SFTConfig(**common_training_args(tmp_path), max_length=None, packing=False)
    with consumer_messages() as messages:
        trainer = SFTTrainer(
            model=tiny_llama(tokenizer),
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        result = trainer.train()
    trouble = prefix_trouble(messages)
    assert not trouble, "\n".join(trouble)
    assert len(trainer.train_dataset) == len(rows), "SFTTrainer dropped rows"
    assert result.global_step == 2 and math.isfinite(result.training_loss)

    for row, example in zip(rows, trainer.train_dataset, strict=True):
        seen = tokenizer.decode(example["input_ids"])
        assert seen == tokenizer.apply_chat_template(row["messages"], tokenize=False), (
            "SFTTrainer trains on another text than the conversation"
        )
        assert row["messages"][-1]["role"] == "assistant"
        assert seen.endswith(row["messages"][-1]["content"] + "<|end|>\n"), (
            "the training sequence does not end with the expected answer"
        )
        assert row["messages"][0]["content"] in seen
