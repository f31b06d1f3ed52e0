"""A deterministic stand-in for an LLM: the same question always gets the same answer."""

import hashlib

CANNED = {
    "capital of australia": "The capital of Australia is Canberra.",
    "json": '```json\n{"name": "Ada", "born": 1815}\n```',
    "poem": "Roses are red,\nviolets are blue,\nthis answer is canned\nand so is this too.",
}
STYLES = [
    "Here is a short answer: {topic} is a well-known subject; start with the official docs.",
    "I'm sorry, but I can't help with {topic}.",
    "Great question! {topic} has three parts:\n1. the basics\n2. the details\n3. the edge cases",
    "According to a 2019 study by the Institute of Imaginary Facts, {topic} doubled last year.",
]


def answer(question: str, attempt: int = 0) -> str:
    key = question.strip().lower().rstrip("?")
    for phrase, reply in CANNED.items():
        if phrase in key and attempt == 0:
            return reply
    digest = int(hashlib.sha256(f"{key}:{attempt}".encode()).hexdigest(), 16)
    return STYLES[digest % len(STYLES)].format(topic=question.strip().rstrip("?") or "that")
