"""Two versions of a chat model's answer function, as a team's code would hold them: the first
fails the complaints the regression set was built from; the second fixes the format and the
refusal, and breaks the list that the first got right. Used by tests/test_evaluation_gate.py."""

import json

ANSWERS_V1 = {
    "Give me Ada's record as JSON.": "Name: Ada, Age: 36",
    "How do I reset my password?": "I'm sorry, I can't help with that.",
    "What is DNS?": "DNS is the Domain Name System. " * 20,
    "List three primary colours.": "- red\n- yellow\n- blue",
}

ANSWERS_V2 = {
    **ANSWERS_V1,
    "Give me Ada's record as JSON.": json.dumps({"name": "Ada", "age": 36}),
    "How do I reset my password?": "Open Settings, then Account, then Reset password.",
    "List three primary colours.": "Red, yellow and blue.",
}


def question(item) -> str:
    user = [m["content"] for m in item.messages if m.get("role") == "user"]
    return user[-1] if user else item.input


def answer_v1(item) -> str:
    return ANSWERS_V1[question(item)]


async def answer_v2(item) -> str:
    # An async task, as a client of an async model SDK would write it.
    return ANSWERS_V2[question(item)]


def answer_broken(item) -> str:
    if "password" in question(item):
        raise ConnectionError("the model's endpoint is down")
    return ANSWERS_V1[question(item)]


CALLS: list[str] = []


def answer_until_interrupted(item) -> str:
    """Answers, and is stopped (Ctrl-C) at the list question, as a run cut short would be."""
    CALLS.append(question(item))
    if "colours" in question(item):
        raise KeyboardInterrupt
    return ANSWERS_V1[question(item)]


def answer_v1_counted(item) -> str:
    CALLS.append(question(item))
    return ANSWERS_V1[question(item)]
