"""The one settings object: ``app_settings`` over the host's ``FEEDBACK_LOOP`` dict.

Every limit the capture endpoint and the API enforce has a default here; a host overrides any of
them with ``FEEDBACK_LOOP = {"MAX_BATCH_SIZE": 50}``. Values are read lazily and the cache is
cleared on ``setting_changed``, so ``override_settings`` works in tests.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

# Trace, session and user ids are at most this long: the size of their columns, not a setting.
MAX_ID_CHARS = 128
# The largest row id or number any database stores (a signed 64-bit integer).
MAX_ROW_ID = 2**63 - 1

DEFAULTS: dict[str, Any] = {
    # Capture endpoint limits.
    "MAX_BATCH_SIZE": 100,
    "MAX_BODY_BYTES": 1024 * 1024,
    "MAX_TEXT_CHARS": 65_536,
    "MAX_COMMENT_CHARS": 4_000,
    "MAX_NAME_CHARS": 64,
    "MAX_REASONS": 10,
    "MAX_REASON_CHARS": 64,
    "MAX_METADATA_BYTES": 8_192,
    "MAX_METADATA_DEPTH": 8,
    "RATING_SCALE": 5,
    # Conversations before an answer (record_trace(messages=...), POST traces): messages in one,
    # and the characters of one message's text.
    "MAX_MESSAGES": 500,
    "MAX_MESSAGE_CHARS": 100_000,
    # Events one voter may add to one trace; more are rejected with "voter_limit", so no token
    # can make its trace's processing cost grow without bound.
    "MAX_EVENTS_PER_VOTER": 100,
    # Client clocks drift; timestamps further than this in the future are clamped to "now".
    "CLOCK_SKEW_SECONDS": 300,
    # Signed trace tokens.
    "TOKEN_MAX_AGE": 7 * 24 * 3600,
    # Throttling per public key and client address, "N/s", "N/min", "N/h", "N/day"; None disables.
    "THROTTLE_RATE": "1200/min",
    "THROTTLE_CACHE": "default",
    # Number of reverse proxies in front of Django whose X-Forwarded-For entries are trusted.
    "NUM_PROXIES": 0,
    # Seconds a client is told to wait after a 503 (database unavailable).
    "RETRY_AFTER_SECONDS": 5,
    # Seconds a web process keeps a project looked up by its public key.
    "PROJECT_CACHE_SECONDS": 10,
    # Server API.
    "MAX_TRACE_BATCH_SIZE": 100,
    "PAGE_SIZE": 50,
    "MAX_PAGE_SIZE": 500,
    # Public key of the project the template tags use when none is given.
    "DEFAULT_PROJECT": None,
    # The release new traces get when their recorder names none (record_trace, POST traces):
    # a string such as the deployment's git commit; None: no release.
    "DEFAULT_RELEASE": None,
    # Where the template tag points the widget; None means reverse("feedback_loop:events").
    "ENDPOINT_URL": None,
    # Where the template tag loads the widget from; None: the app's own versioned URL
    # ({mount}widget/<version>/widget.js), which needs no static files set-up.
    "WIDGET_URL": None,
    # Processing pipeline (Celery). Queue one task per accepted batch; when False, only the
    # sweeper picks events up.
    "ENQUEUE_ON_CAPTURE": True,
    # Seconds capture stops trying the broker after a failed send (the sweeper catches up).
    "ENQUEUE_PAUSE_SECONDS": 5,
    # Unprocessed events older than this are queued again by the sweeper.
    "SWEEP_AFTER_SECONDS": 120,
    # Most events one sweep queues, and events per task it (and capture's hand-off) queues.
    # Each task and each transaction costs a set of statements whatever its size: a backlog
    # drained at 10,100 events/s in tasks of 500 and transactions of 200 traces, at 13,900 in
    # tasks of 2,000 and transactions of 500 (bench/pipeline.py). Lower both when a custom
    # TRIAGE_CLASSIFIER is slow, so that a task stays well within PROCESS_SOFT_TIME_LIMIT.
    "SWEEP_MAX_EVENTS": 200_000,
    "PROCESS_BATCH_SIZE": 2000,
    # Traces rolled up per database transaction.
    "PROCESS_CHUNK_TRACES": 500,
    # Seconds a processing task may run (None: no limit). Past the soft limit the traces it was
    # on are done again one by one, each failure recorded; past the hard limit its process is
    # killed and the message delivered again, to be processed one trace at a time.
    "PROCESS_SOFT_TIME_LIMIT": 300,
    "PROCESS_TIME_LIMIT": 360,
    # Failed attempts after which a trace is a dead letter: its events are no longer queued.
    "PROCESS_MAX_ATTEMPTS": 5,
    # Time limits of the periodic tasks (sweep, dataset rules, retention); None: no limit.
    "PERIODIC_SOFT_TIME_LIMIT": 1800,
    "PERIODIC_TIME_LIMIT": 1860,
    # Exports: rows longer than this (characters, or tokens when EXPORT_TOKEN_COUNTER names a
    # counter, (text) -> int) are reported, and left out on request; EXPORT_REDACTOR, (text) ->
    # text, is applied to every text an export writes (feedback_loop.exports.redaction.redact_pii
    # replaces e-mail addresses, phone and card numbers).
    "EXPORT_MAX_LENGTH": 100_000,
    "EXPORT_TOKEN_COUNTER": None,
    "EXPORT_REDACTOR": None,
    # Evaluation (feedback_loop.evaluate, feedback_loop_eval). EVAL_JUDGE: the LLM judge's
    # OpenAI-compatible chat-completions endpoint, {"BASE_URL": ..., "MODEL": ..., "API_KEY": ...,
    # "TIMEOUT": seconds, "MAX_RETRIES": n, "RATE": "60/min"}; None: no judge.
    # ERROR_MODE_SCORERS: {error mode slug: scorer (dotted path or callable)} for custom modes.
    # EVAL_TASKS: the tasks (dotted paths) the server API may start an experiment with.
    "EVAL_JUDGE": None,
    "ERROR_MODE_SCORERS": {},
    # SCORER_ERROR_MODES: {online scoring's scorer name: error mode slug}: a failing score of
    # the scorer suggests the mode, measured against reviewers' verdicts (precision and recall,
    # internal/detection.py). A rubric judge goes by its whole name: "judge:Is it made up?".
    "SCORER_ERROR_MODES": {"judge": "hallucination", "refusal": "refusal", "json_valid": "format"},
    "EVAL_TASKS": [],
    # Suggests error modes for negative traces: a callable (trace, events) -> slugs, given the
    # trace's newest TRIAGE_EVENTS events (oldest first), so its cost stays bounded however
    # many events a trace gathers.
    "TRIAGE_CLASSIFIER": "feedback_loop.triage.suggest_error_modes",
    "TRIAGE_EVENTS": 1000,
    # Rows deleted per statement by the retention task.
    "RETENTION_BATCH_SIZE": 1000,
    # Themes in the comments of negative traces (internal/themes.py): THEME_EMBEDDER, a callable
    # (texts: list[str]) -> 2-D array-like, one vector per text, None: the built-in TF-IDF
    # (the clustering needs the "themes" extra, scikit-learn); THEME_MAX_COMMENTS: the newest
    # texts of a window used.
    "THEME_EMBEDDER": None,
    "THEME_MAX_COMMENTS": 100_000,
}

# Settings holding dotted paths, imported on first access.
IMPORT_STRINGS: set[str] = {
    "TRIAGE_CLASSIFIER",
    "EXPORT_TOKEN_COUNTER",
    "EXPORT_REDACTOR",
    "THEME_EMBEDDER",
}
# Hooks that may be None (off).
OPTIONAL_HOOKS = {"EXPORT_TOKEN_COUNTER", "EXPORT_REDACTOR", "THEME_EMBEDDER"}

POSITIVE_INTS = {
    "TRIAGE_EVENTS",
    "MAX_BATCH_SIZE",
    "MAX_BODY_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_COMMENT_CHARS",
    "MAX_NAME_CHARS",
    "MAX_REASONS",
    "MAX_REASON_CHARS",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "RATING_SCALE",
    "MAX_MESSAGES",
    "MAX_MESSAGE_CHARS",
    "MAX_EVENTS_PER_VOTER",
    "TOKEN_MAX_AGE",
    "RETRY_AFTER_SECONDS",
    "MAX_TRACE_BATCH_SIZE",
    "PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "SWEEP_MAX_EVENTS",
    "PROCESS_BATCH_SIZE",
    "PROCESS_CHUNK_TRACES",
    "PROCESS_MAX_ATTEMPTS",
    "RETENTION_BATCH_SIZE",
    "EXPORT_MAX_LENGTH",
    "THEME_MAX_COMMENTS",
}
NON_NEGATIVE_INTS = {
    "CLOCK_SKEW_SECONDS",
    "NUM_PROXIES",
    "PROJECT_CACHE_SECONDS",
    "ENQUEUE_PAUSE_SECONDS",
    "SWEEP_AFTER_SECONDS",
}
# Seconds, or None for no limit; each soft limit must be below its hard one.
TIME_LIMITS = {
    "PROCESS_SOFT_TIME_LIMIT": "PROCESS_TIME_LIMIT",
    "PERIODIC_SOFT_TIME_LIMIT": "PERIODIC_TIME_LIMIT",
}

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=32)  # read on every capture request
def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"120/min"`` -> ``(120, 60)``; ``None`` -> ``None``; raises ``ValueError`` if malformed."""
    if rate is None:
        return None
    match = _RATE_RE.match(str(rate))
    if not match:
        raise ValueError(f"{rate!r} is not a rate such as '600/min' (units: s, min, h, day)")
    return int(match.group(1)), _PERIODS[match.group(2)[0]]


def validate(user_settings: dict[str, Any]) -> list[str]:
    """Problems with a ``FEEDBACK_LOOP`` dict, one sentence each; used by the system checks."""
    problems = []
    for name, value in user_settings.items():
        if name not in DEFAULTS:
            problems.append(f"FEEDBACK_LOOP[{name!r}] is not a setting of feedback_loop.")
        elif name in POSITIVE_INTS and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            problems.append(f"FEEDBACK_LOOP[{name!r}] must be a positive integer, not {value!r}.")
        elif name in NON_NEGATIVE_INTS and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            problems.append(f"FEEDBACK_LOOP[{name!r}] must be an integer >= 0, not {value!r}.")
        elif name == "THROTTLE_RATE":
            try:
                parse_rate(value)
            except ValueError as exc:
                problems.append(f"FEEDBACK_LOOP['THROTTLE_RATE']: {exc}.")
            except TypeError:  # unhashable for the cache, so not a rate string either
                problems.append(
                    f"FEEDBACK_LOOP['THROTTLE_RATE'] must be a string such as '600/min', "
                    f"not {value!r}."
                )
        elif name in TIME_LIMITS.keys() | TIME_LIMITS.values() and not _is_seconds(value):
            problems.append(
                f"FEEDBACK_LOOP[{name!r}] must be a number of seconds > 0 or None, not {value!r}."
            )
        elif name == "DEFAULT_RELEASE" and not (
            value is None or (isinstance(value, str) and len(value) <= 200)
        ):
            problems.append(
                "FEEDBACK_LOOP['DEFAULT_RELEASE'] must be None or a string of at most 200 "
                f"characters (such as the deployment's git commit), not {value!r}."
            )
        elif name == "ENQUEUE_ON_CAPTURE" and not isinstance(value, bool):
            problems.append("FEEDBACK_LOOP['ENQUEUE_ON_CAPTURE'] must be True or False.")
        elif name == "EVAL_JUDGE":
            problems.extend(_judge_problems(value))
        elif name == "EVAL_TASKS":
            problems.extend(_eval_task_problems(value))
        elif name in IMPORT_STRINGS:
            if isinstance(value, str):
                try:
                    import_string(value)
                except ImportError as exc:
                    problems.append(f"FEEDBACK_LOOP[{name!r}]: cannot import {value!r} ({exc}).")
            elif not callable(value) and not (value is None and name in OPTIONAL_HOOKS):
                problems.append(
                    f"FEEDBACK_LOOP[{name!r}] must be a dotted path or a callable, not {value!r}."
                )
    for soft_name, hard_name in TIME_LIMITS.items():
        soft = user_settings.get(soft_name, DEFAULTS[soft_name])
        hard = user_settings.get(hard_name, DEFAULTS[hard_name])
        if _is_seconds(soft) and _is_seconds(hard) and None not in (soft, hard) and soft >= hard:
            problems.append(
                f"FEEDBACK_LOOP[{soft_name!r}] ({soft}) must be below {hard_name} ({hard}): "
                "the soft limit lets a task record what failed before the hard one kills it."
            )
    return problems


def _eval_task_problems(tasks: Any) -> list[str]:
    """Problems with ``EVAL_TASKS``: a list or tuple of importable dotted paths, each
    "pkg.module.function" or "pkg.module:function"."""
    where = "FEEDBACK_LOOP['EVAL_TASKS']"
    if not isinstance(tasks, list | tuple):
        return [
            f"{where} must be a list of dotted paths such as 'myapp.evals:answer', not {tasks!r}."
        ]
    problems = []
    for task in tasks:
        parts = task.replace(":", ".").split(".") if isinstance(task, str) else []
        if len(parts) < 2 or task.count(":") > 1 or not all(p.isidentifier() for p in parts):
            problems.append(
                f"{where}: {task!r} is not a dotted path such as 'myapp.evals.answer' or "
                "'myapp.evals:answer'."
            )
            continue
        try:
            found = import_string(task.replace(":", "."))
        except ImportError as exc:
            problems.append(f"{where}: cannot import {task!r} ({exc}).")
            continue
        if not callable(found):
            problems.append(f"{where}: {task!r} is not a function.")
    return problems


def _is_seconds(value: Any) -> bool:
    return value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9
    )


def _judge_problems(judge: Any) -> list[str]:
    """Problems with ``EVAL_JUDGE``: None, or the judge's endpoint and how to call it."""
    from urllib.parse import urlsplit

    keys = ("BASE_URL", "MODEL", "API_KEY", "TIMEOUT", "MAX_RETRIES", "RATE", "BACKOFF")
    where = "FEEDBACK_LOOP['EVAL_JUDGE']"
    if judge is None:
        return []
    if not isinstance(judge, dict):
        return [
            f"{where} must be None or a dict such as {{'BASE_URL': 'https://api.openai.com/v1', "
            f"'MODEL': 'gpt-4o-mini', 'API_KEY': ...}}, not {judge!r}."
        ]
    problems = [
        f"{where}[{key!r}] is not a key of the judge's settings ({', '.join(keys)})."
        for key in judge
        if key not in keys
    ]
    url = judge.get("BASE_URL")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            f"{where}['BASE_URL'] must be an http(s) URL such as 'https://api.openai.com/v1', "
            f"not {url!r}."
        )
    model = judge.get("MODEL")
    if not isinstance(model, str) or not model.strip():
        problems.append(f"{where}['MODEL'] must be a model's name, not {model!r}.")
    if not isinstance(judge.get("API_KEY") or "", str):
        problems.append(f"{where}['API_KEY'] must be a string or None.")
    if "TIMEOUT" in judge and (judge["TIMEOUT"] is None or not _is_seconds(judge["TIMEOUT"])):
        problems.append(
            f"{where}['TIMEOUT'] must be a number of seconds > 0, not {judge['TIMEOUT']!r}."
        )
    retries = judge.get("MAX_RETRIES", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        problems.append(
            f"{where}['MAX_RETRIES'] must be an integer from 0 to 100, not {retries!r}."
        )
    backoff = judge.get("BACKOFF", 0)
    if isinstance(backoff, bool) or not isinstance(backoff, int | float) or not 0 <= backoff < 1e9:
        problems.append(f"{where}['BACKOFF'] must be a number of seconds >= 0, not {backoff!r}.")
    try:
        parse_rate(judge.get("RATE"))
    except ValueError as exc:
        problems.append(f"{where}['RATE']: {exc}.")
    except TypeError:
        problems.append(f"{where}['RATE'] must be a string such as '60/min' or None.")
    return problems


class AppSettings:
    """Attribute access to ``FEEDBACK_LOOP`` with defaults, e.g. ``app_settings.MAX_BATCH_SIZE``."""

    def __init__(self, defaults: dict[str, Any], import_strings: set[str]):
        self.defaults = defaults
        self.import_strings = import_strings
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        if not hasattr(self, "_user_settings"):
            self._user_settings = getattr(settings, "FEEDBACK_LOOP", None) or {}
        return self._user_settings

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"Invalid feedback_loop setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        if name in self.import_strings and isinstance(value, str):
            value = import_string(value)
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self) -> None:
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()
        if hasattr(self, "_user_settings"):
            delattr(self, "_user_settings")


app_settings = AppSettings(DEFAULTS, IMPORT_STRINGS)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "FEEDBACK_LOOP":
        app_settings.reload()


setting_changed.connect(_reload)
