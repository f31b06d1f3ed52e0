"""Capture how people react to an LLM's answers and turn it into eval sets and preference pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["__version__", "evaluate", "record_trace", "sign_trace"]

if TYPE_CHECKING:
    from feedback_loop.evaluation import evaluate
    from feedback_loop.tokens import sign_trace
    from feedback_loop.traces import record_trace


def __getattr__(name: str) -> Any:
    # Lazy so that importing the package (e.g. from settings.py) does not import models.
    if name == "record_trace":
        from feedback_loop.traces import record_trace

        return record_trace
    if name == "evaluate":
        from feedback_loop.evaluation import evaluate

        return evaluate
    if name == "sign_trace":
        from feedback_loop.tokens import sign_trace

        return sign_trace
    raise AttributeError(f"module 'feedback_loop' has no attribute {name!r}")
