"""What the consumer tests share: reading the export files, the tokenizers and the tiny model built
locally (nothing is downloaded), and catching what TRL logs while it prepares a dataset.

Imported by the test modules only (heavy libraries are imported inside the functions that use them),
never by the main suite.
"""

import contextlib
import json
import logging
import re
import warnings
from pathlib import Path

ROLES = ("system", "user", "assistant", "tool")

# The tokenizer's special tokens. The chat template wraps every message as
# <|role|>\n{content}<|end|>\n and asks for an answer with <|assistant|>\n: it renders a prompt the
# same way whether or not an answer follows, as TRL requires of a template.
BOS, EOS, PAD, UNK, END = "<s>", "</s>", "<pad>", "<unk>", "<|end|>"
ROLE_TOKENS = [f"<|{role}|>" for role in ROLES]
SPECIAL_TOKENS = [BOS, EOS, PAD, UNK, END, *ROLE_TOKENS]
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# What TRL says when the tokenized prompt is not a prefix of prompt+completion ("The tokenized
# prompt is not a prefix of the tokenized prompt+completion, ...") and anything of the same kind.
PREFIX_TROUBLE = re.compile(r"prefix|mismatch", re.IGNORECASE)


def read_jsonl(path):
    """The rows of a JSON Lines file; a blank or invalid line fails with its line number."""
    path = Path(path)
    assert path.is_file(), f"{path.name} is missing from the exports folder {path.parent}"
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            assert line.strip(), f"{path.name}:{number} is a blank line (JSON Lines has none)"
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise AssertionError(f"{path.name}:{number} is not JSON: {e}") from e
    assert rows, f"{path.name} has no rows"
    return rows


def is_message(value):
    return isinstance(value, dict) and {"role", "content"} <= set(value)


def texts_of(rows):
    """Every string in the rows (the message contents included), for training a tokenizer."""
    found = []

    def walk(value):
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(rows)
    return found


def build_tokenizer(kind, texts):
    """A fast tokenizer trained here on ``texts``, wrapped as transformers takes it.

    kind: "bpe" (byte-level BPE as GPT-2 and Llama 3 have: lossless, so decoding gives back the
    exact text), "metaspace-bpe" (SentencePiece style as Llama 2 and Mistral have) or "wordlevel"
    (one token per word, whitespace dropped: a glued word becomes <unk>).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=2000,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    elif kind == "metaspace-bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        tokenizer.decoder = decoders.Metaspace(prepend_scheme="first")
        trainer = trainers.BpeTrainer(
            vocab_size=2000, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
    elif kind == "wordlevel":
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer.decoder = decoders.WordPiece()  # words joined by spaces
        trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, show_progress=False)
    else:
        raise ValueError(kind)
    tokenizer.train_from_iterator(texts, trainer)
    bos = tokenizer.token_to_id(BOS)
    # A text (not a chat) starts with BOS, as Llama's tokenizers do.
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos)]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[END, *ROLE_TOKENS],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tiny_llama(tokenizer, seed=0):
    """A randomly initialised Llama small enough to train on CPU in a second."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=8192,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def common_training_args(output_dir):
    """Two steps of batch 2 on CPU, nothing reported, saved or shown."""
    return {
        "output_dir": str(output_dir),
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "fp16": False,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": 0,
    }


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def consumer_messages():
    """Collect every log record and Python warning while a consumer works (a list of strings).

    TRL logs its prefix warning with ``warning_once``, which remembers what it said in this
    process: the memory is cleared first, so each use sees the warning again.
    """
    import accelerate.logging
    import transformers.utils.logging as hf_logging

    accelerate.logging.MultiProcessAdapter.warning_once.cache_clear()
    hf_once = getattr(hf_logging, "warning_once", None)
    if hf_once is not None and hasattr(hf_once, "cache_clear"):
        hf_once.cache_clear()
    handler = _Records()
    # transformers' loggers stop at "transformers" (propagate is off); the rest reach the root.
    loggers = [logging.getLogger(), logging.getLogger("transformers")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler.messages
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    handler.messages.extend(f"{w.category.__name__}: {w.message}" for w in caught)


JS_TIKTOKEN_RANKS = Path(__file__).resolve().parent / "node_modules/js-tiktoken/dist/ranks"


def _ranks_from_js_tiktoken(name, expected_hash):
    """tiktoken's mergeable ranks for ``name``, read from the js-tiktoken npm package (installed
    with promptfoo by npm ci) and checked byte for byte: the file tiktoken would download is
    rebuilt from them and must have the SHA-256 that tiktoken expects of it."""
    import base64
    import hashlib

    source = (JS_TIKTOKEN_RANKS / f"{name}.js").read_text(encoding="utf-8").strip()
    data = json.loads(source.removeprefix("export default").rstrip(";"))
    ranks = {}
    for line in data["bpe_ranks"].split("\n"):
        if not line:
            continue
        _, offset, *tokens = line.split(" ")
        for i, token in enumerate(tokens):
            ranks[token] = int(offset) + i
    rebuilt = "".join(
        f"{token} {rank}\n" for token, rank in sorted(ranks.items(), key=lambda t: t[1])
    )
    digest = hashlib.sha256(rebuilt.encode()).hexdigest()
    if expected_hash and digest != expected_hash:
        raise ValueError(f"js-tiktoken's {name} is not tiktoken's (sha256 {digest})")
    return {base64.b64decode(token): rank for token, rank in ranks.items()}


def offline_tiktoken():
    """(description, encoding) of OpenAI's o200k_base (else cl100k_base) loaded with no download,
    or None.

    tiktoken downloads an encoding's ranks on first use; nothing is downloaded here (the CI
    machine reaches package registries only). The ranks come from tiktoken's cache if they are in
    it, else from the js-tiktoken npm package, checked against tiktoken's own hash of the file.
    """
    try:
        import tiktoken
        import tiktoken.load
        import tiktoken_ext.openai_public as openai_public
    except ImportError:
        return None

    def no_fetch(blobpath):
        raise OSError(f"not fetched: {blobpath}")

    def from_npm(blobpath, expected_hash=None):
        name = Path(str(blobpath)).stem
        return _ranks_from_js_tiktoken(name, expected_hash)

    for name in ("o200k_base", "cl100k_base"):
        fetch, tiktoken.load.read_file = tiktoken.load.read_file, no_fetch
        try:
            return f"tiktoken {name}", tiktoken.get_encoding(name)
        except Exception:
            pass
        finally:
            tiktoken.load.read_file = fetch
        if (JS_TIKTOKEN_RANKS / f"{name}.js").is_file():
            load, openai_public.load_tiktoken_bpe = openai_public.load_tiktoken_bpe, from_npm
            try:
                spec = getattr(openai_public, name)()
            finally:
                openai_public.load_tiktoken_bpe = load
            return f"tiktoken {name} (ranks from the js-tiktoken npm package)", tiktoken.Encoding(
                **spec
            )
    return None


def prefix_trouble(messages):
    return [m for m in messages if PREFIX_TROUBLE.search(m)]
