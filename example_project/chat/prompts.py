"""The demo's tasks for ``feedback_loop_eval``: the stand-in model as it runs today, and a "new
prompt" that answers two questions better and breaks one (as new prompts do)."""

from example_project.chat import model

# What the new prompt answers differently.
BETTER = {
    "What changed in Django 5.2?": (
        "Django 5.2 is a long-term support release. It adds composite primary keys, imports "
        "your models automatically in the shell, and makes form field rendering easier to "
        "customise."
    ),
    "Give me JSON for Ada Lovelace": "Ada Lovelace was born in 1815.",
    "How tall is Mount Everest?": "Mount Everest is 8,849 metres tall.",
}


def question(item) -> str:
    """The last thing the user asked: the conversation's last user message, else the input."""
    asked = [m.get("content", "") for m in item.messages if m.get("role") == "user"]
    return asked[-1] if asked else item.input


def answer(item) -> str:
    """Prompt v1: the stand-in model's answer."""
    return model.answer(question(item))


def answer_v2(item) -> str:
    """Prompt v2."""
    return BETTER.get(question(item)) or model.answer(question(item))
