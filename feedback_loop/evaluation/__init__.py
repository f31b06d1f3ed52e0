"""Evaluation: run a dataset against the next prompt or model, score it, compare it with a
baseline, and gate the release on it.

- ``scoring``: ``Score``, the built-in scorers and how a scorer is named;
- ``error_modes``: the ``error_mode`` scorer, the check matching each item's confirmed failure;
- ``judge``: the LLM judge over an OpenAI-compatible endpoint;
- ``runner``: ``evaluate()``, which records an ``Experiment`` and its results;
- ``summary``: an experiment's summary and its comparison with a baseline.
"""

from feedback_loop.evaluation.runner import Item, evaluate
from feedback_loop.evaluation.scoring import Score
from feedback_loop.evaluation.summary import Comparison, compare

__all__ = ["Comparison", "Item", "Score", "compare", "evaluate"]
