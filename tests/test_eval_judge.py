"""The LLM judge (feedback_loop.evaluation.judge) against a local fake OpenAI-compatible server
whose answers each test scripts; no test calls a real provider."""

import dataclasses
import itertools
import json
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.test import override_settings

import feedback_loop
from feedback_loop.conf import validate
from feedback_loop.evaluation import judge as judge_module
from feedback_loop.evaluation.error_modes import error_mode
from feedback_loop.evaluation.judge import (
    MAX_DELAY,
    JudgeError,
    RateLimiter,
    contradiction,
    judge,
    judge_configured,
    limiter,
    parse_claims,
    parse_verdict,
)
from feedback_loop.evaluation.registry import resolve
from feedback_loop.evaluation.scoring import Score
from feedback_loop.internal.datasets import Row
from feedback_loop.models import ExperimentStatus
from tests.factories import DatasetFactory, DatasetItemFactory

SYSTEM_PROMPT = "You are Captain Atlas, the travel desk's assistant."


def verdict(score=0.9, reason="Correct and to the point."):
    return reply(json.dumps({"score": score, "reason": reason}))


def reply(content, *, delay=0.0):
    """A chat completion whose message is ``content``."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    return {"status": 200, "body": body, "delay": delay}


def error(status, message, headers=None):
    return {"status": status, "body": {"error": {"message": message}}, "headers": headers or {}}


class FakeJudge:
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1: it answers with the scripted
    steps in order (the last one again when they run out) and records every request."""

    def __init__(self):
        self.steps = deque()
        self.last = verdict()
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                fake.requests.append(
                    {
                        "at": time.monotonic(),
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                step = fake.steps.popleft() if fake.steps else fake.last
                fake.last = step
                time.sleep(step.get("delay", 0))
                data = json.dumps(step["body"]).encode()
                try:
                    self.send_response(step["status"])
                    for name, value in {
                        "Content-Type": "application/json",
                        "Content-Length": str(len(data)),
                        **step.get("headers", {}),
                    }.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client timed out and left
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, *steps):
        self.steps.extend(steps)
        self.last = steps[-1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    server = FakeJudge()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def pauses(monkeypatch):
    """The delays between attempts, recorded instead of slept; and a fresh rate limiter."""
    recorded = []
    monkeypatch.setattr(judge_module, "_pause", recorded.append)
    judge_module._limiters.clear()
    yield recorded
    judge_module._limiters.clear()


def configured(fake=None, **extra):
    judge_settings = {
        "BASE_URL": fake.url if fake else "http://127.0.0.1:9/v1",
        "MODEL": "judge-model-1",
        "API_KEY": "sk-judge-test",
        "TIMEOUT": 5,
        "MAX_RETRIES": 2,
        "BACKOFF": 0.01,
        **extra,
    }
    return override_settings(FEEDBACK_LOOP={**settings.FEEDBACK_LOOP, "EVAL_JUDGE": judge_settings})


def item(expected="Paris is the capital of France.", messages=True):
    conversation = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    return Row(
        id="1",
        input="What is the capital of France?",
        messages=conversation if messages else [],
        expected_output=expected,
        output="",
        chosen="",
        rejected="",
        metadata={},
        source_trace_id="",
    )


# --- Verdicts -----------------------------------------------------------------------------------


def test_a_good_verdict_is_the_score(fake):
    fake.script(verdict(0.8, "Right city, but wordy."))
    with configured(fake):
        score = judge()(item(), "The capital of France is Paris.")
    assert score == Score(0.8, "Right city, but wordy.")
    assert len(fake.requests) == 1


def test_the_request_holds_the_model_key_conversation_and_output(fake):
    with configured(fake):
        judge()(item(), "It is Lyon, obviously.")
    (request,) = fake.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-judge-test"
    body = request["body"]
    assert body["model"] == "judge-model-1"
    assert body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system["role"] == "system" and '{"score"' in system["content"]
    assert "correct and helpful" in system["content"]  # the default rubric
    assert SYSTEM_PROMPT in user["content"]
    assert "What is the capital of France?" in user["content"]
    assert "Paris is the capital of France." in user["content"]  # the expected output
    assert "It is Lyon, obviously." in user["content"]


def test_without_messages_the_prompt_holds_the_input(fake):
    with configured(fake):
        judge("Is it polite?")(item(expected="", messages=False), "Paris.")
    system, user = fake.requests[0]["body"]["messages"]
    assert "Rubric: Is it polite?" in system["content"]
    assert "[user] What is the capital of France?" in user["content"]
    assert "<expected_output>" not in user["content"]


def test_a_malformed_verdict_is_asked_again(fake, pauses):
    fake.script(reply("The answer looks right to me: 0.9"), verdict(1, "Exactly the answer."))
    with configured(fake):
        score = judge()(item(), "Paris.")
    assert score == Score(1.0, "Exactly the answer.")
    assert len(fake.requests) == 2
    assert len(pauses) == 1


def test_a_judge_that_stays_malformed_raises_a_clear_error(fake):
    fake.script(reply('{"score": 1.5, "reason": "Great."}'))
    with configured(fake, MAX_RETRIES=1), pytest.raises(JudgeError) as raised:
        judge()(item(), "Paris.")
    assert len(fake.requests) == 2
    message = str(raised.value)
    assert "after 2 attempt(s)" in message
    assert "malformed verdict: the score 1.5 is not a number from 0 to 1" in message


def test_an_answer_that_is_not_a_chat_completion_is_malformed(fake):
    no_text = {"status": 200, "body": {"choices": [{"message": {"content": None}}]}}
    fake.script(no_text, {"status": 200, "body": {"detail": "this is not the API"}})
    with configured(fake, MAX_RETRIES=1), pytest.raises(JudgeError) as raised:
        judge()(item(), "Paris.")
    assert len(fake.requests) == 2
    assert 'malformed verdict: not a chat completion\'s text: {"detail"' in str(raised.value)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("Score: 1", "not a single JSON object"),
        ('{"score": 1, "reason": "Fine."} I hope this helps!', "not a single JSON object"),
        ('```json\n{"score": 1, "reason": "Fine."}\n```', "not a single JSON object"),
        ("[1]", "not a JSON object"),
        ('{"score": 1}', "the keys are score, not reason, score"),
        ('{"score": 1, "reason": "Fine.", "confidence": 0.2}', "the keys are"),
        ('{"score": true, "reason": "Fine."}', "the score True is not a number"),
        ('{"score": "0.5", "reason": "Fine."}', "the score '0.5' is not a number"),
        ('{"score": -0.1, "reason": "Fine."}', "the score -0.1 is not a number from 0 to 1"),
        ('{"score": NaN, "reason": "Fine."}', "NaN is not a number"),
        ('{"score": 0.5, "reason": 3}', "the reason 3 is not a sentence"),
        ('{"score": 0.5, "reason": " "}', "is not a sentence"),
    ],
)
def test_verdicts_are_parsed_strictly(content, problem):
    with pytest.raises(ValueError) as raised:
        parse_verdict(content)
    assert problem in str(raised.value)


def test_a_strict_verdict_parses():
    assert parse_verdict(' {"score": 0, "reason": "Wrong city."}\n') == (0.0, "Wrong city.")
    assert parse_claims('{"contradicted_claims": []}') == []
    with pytest.raises(ValueError, match="not a list of strings"):
        parse_claims('{"contradicted_claims": "Lyon"}')


# --- Transport: timeouts, rate limits, refusals ----------------------------------------------


def test_a_slow_answer_times_out_and_is_asked_again(fake):
    fake.script(dict(verdict(0.1), delay=1.0), verdict(0.7, "Mostly right."))
    with configured(fake, TIMEOUT=0.2):
        score = judge()(item(), "Paris.")
    assert score == Score(0.7, "Mostly right.")
    assert len(fake.requests) == 2


def test_429_waits_as_long_as_retry_after_says(fake, pauses):
    fake.script(error(429, "Rate limit reached", {"Retry-After": "2"}), verdict())
    with configured(fake):
        assert judge()(item(), "Paris.").value == 0.9
    assert len(fake.requests) == 2
    assert pauses == [2.0]


def test_a_long_retry_after_is_capped(fake, pauses):
    fake.script(error(429, "Come back tomorrow", {"Retry-After": "86400"}), verdict())
    with configured(fake):
        judge()(item(), "Paris.")
    assert pauses == [MAX_DELAY]


def test_server_errors_back_off_exponentially_then_give_up(fake, pauses):
    fake.script(error(503, "Overloaded"))
    with configured(fake, MAX_RETRIES=3, BACKOFF=1.0), pytest.raises(JudgeError) as raised:
        judge()(item(), "Paris.")
    assert len(fake.requests) == 4
    assert "after 4 attempt(s); HTTP 503: Overloaded" in str(raised.value)
    # 1 s, 2 s, 4 s, each with jitter of +/- 50%.
    assert [0.5 <= p / 2**n <= 1.5 for n, p in enumerate(pauses)] == [True] * 3


def test_401_is_not_retried(fake):
    fake.script(error(401, "Incorrect API key provided"))
    with configured(fake), pytest.raises(JudgeError) as raised:
        judge()(item(), "Paris.")
    assert len(fake.requests) == 1
    assert str(raised.value) == (
        "the judge's endpoint refused the request (not retried): "
        "HTTP 401: Incorrect API key provided"
    )


def test_a_refused_connection_is_retried_then_reported(pauses):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with configured(BASE_URL=f"http://127.0.0.1:{port}/v1"), pytest.raises(JudgeError) as raised:
        judge()(item(), "Paris.")
    assert "after 3 attempt(s)" in str(raised.value)
    assert len(pauses) == 2


def test_the_rate_limiter_spaces_calls_across_threads():
    slept = []
    limit = RateLimiter(4, 1, sleep=slept.append)  # 4/s: a slot every 0.25 s
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: limit.acquire(), range(5)))
    # No one slept really, so all five asked at once: the first went, four waited in turn.
    assert len(limit.waits) == 4 == len(slept)
    assert sorted(round(w / 0.25) for w in limit.waits) == [1, 2, 3, 4]


def test_the_rate_limit_spaces_the_judges_requests(fake):
    with configured(fake, RATE="10/s"):
        score = judge()
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda _: score(item(), "Paris."), range(5)))
    # The budget applied, not the clock: five calls took five slots a tenth of a second
    # apart, and four of them waited for theirs.
    spaced = limiter("10/s")
    assert len(spaced.waits) == 4 and len(spaced.slots) == 5
    assert min(b - a for a, b in itertools.pairwise(spaced.slots)) >= 0.1 - 1e-9
    assert len(fake.requests) == 5
    assert limiter("10/s") is limiter("10 / s")  # one limiter per process and rate


# --- Configuration and versions --------------------------------------------------------------


def test_without_a_judge_the_score_is_skipped(fake):
    with override_settings(FEEDBACK_LOOP={}):
        assert not judge_configured()
        score = judge()(item(), "Paris.")
    assert score.skipped and score.reason.startswith(
        "needs a judge: set FEEDBACK_LOOP['EVAL_JUDGE']"
    )
    with configured(fake, MODEL=""):
        assert not judge_configured()
        assert judge()(item(), "Paris.").skipped
    with configured(fake):
        assert judge_configured()
    assert fake.requests == []


def test_the_version_follows_model_and_rubric(fake):
    with configured(fake):
        default = resolve("judge")[1]
        polite = resolve("judge:Is the answer polite?")[1]
        assert polite.rubric == "Is the answer polite?"
        assert len(default.version) == 12 and default.version == judge().version
        assert polite.version != default.version
        before = default.version
    with configured(fake, MODEL="judge-model-2"):
        assert default.version != before


# --- The hallucination check -----------------------------------------------------------------


def test_contradiction_passes_when_no_claim_is_contradicted(fake):
    fake.script(reply('{"contradicted_claims": []}'))
    with configured(fake):
        score = contradiction(item(), "Paris is the capital of France.")
    assert score.value == 1.0 and score.reason.startswith("hallucination: ")
    system, user = fake.requests[0]["body"]["messages"]
    assert "contradicted_claims" in system["content"]
    assert "Paris is the capital of France." in user["content"]


def test_contradiction_fails_with_the_contradicted_claims(fake):
    claims = ["The capital of France is Lyon.", "Paris has no river."]
    fake.script(reply(json.dumps({"contradicted_claims": claims})))
    with configured(fake):
        score = contradiction(item(), "The capital of France is Lyon; Paris has no river.")
    assert score == Score(
        0.0,
        "hallucination: the expected output contradicts: "
        "The capital of France is Lyon.; Paris has no river.",
    )


def test_contradiction_needs_an_expected_output(fake):
    with configured(fake):
        score = contradiction(item(expected=""), "Lyon.")
    assert score == Score(None, "hallucination: no expected output to check claims against")
    assert fake.requests == []


def test_the_hallucination_error_mode_asks_the_judge(fake):
    fake.script(reply('{"contradicted_claims": ["It is Lyon."]}'))
    row = dataclasses.replace(item(), metadata={"error_modes": ["hallucination"]})
    with configured(fake):
        score = error_mode(row, "It is Lyon.")
    assert score == Score(0.0, "hallucination: the expected output contradicts: It is Lyon.")


# --- Through evaluate() ----------------------------------------------------------------------


def answer(item):
    return "Paris."


@pytest.mark.django_db
def test_a_run_records_a_malformed_judge_as_skipped_and_finishes(fake, project):
    dataset = DatasetFactory(project=project)
    DatasetItemFactory.create_batch(
        3, dataset=dataset, messages=[{"role": "system", "content": SYSTEM_PROMPT}]
    )
    fake.script(reply("I would give this a 9/10."))
    with configured(fake, MAX_RETRIES=1):
        experiment = feedback_loop.evaluate(dataset, answer, scorers=["judge"], concurrency=2)
    assert experiment.status == ExperimentStatus.FINISHED
    results = list(experiment.results.all())
    assert len(results) == 3 and len(fake.requests) == 6
    for result in results:
        assert result.error == ""
        assert result.scores["judge"]["value"] is None
        reason = result.scores["judge"]["reason"]
        assert reason.startswith("the scorer failed: JudgeError: no usable verdict")
        assert "malformed verdict: not a single JSON object" in reason


@pytest.mark.django_db
def test_a_run_scores_each_item_with_the_judge(fake, project):
    dataset = DatasetFactory(project=project)
    DatasetItemFactory.create_batch(2, dataset=dataset)
    fake.script(verdict(0.75, "Close enough."))
    with configured(fake):
        experiment = feedback_loop.evaluate(dataset, answer, scorers=["judge"])
    scores = [r.scores["judge"] for r in experiment.results.all()]
    assert scores == [{"value": 0.75, "reason": "Close enough."}] * 2
    assert all("Paris." in r["body"]["messages"][1]["content"] for r in fake.requests)


# --- Settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        (None, None),
        ({"BASE_URL": "https://api.openai.com/v1", "MODEL": "gpt-4o-mini", "RATE": "60/min"}, None),
        ("https://api.openai.com/v1", "must be None or a dict"),
        ({"BASE_URL": "https://x/v1", "MODEL": "m", "MODLE": "m"}, "['MODLE'] is not a key"),
        ({"BASE_URL": "ftp://x/v1", "MODEL": "m"}, "['BASE_URL'] must be an http(s) URL"),
        ({"MODEL": "m"}, "['BASE_URL'] must be an http(s) URL"),
        ({"BASE_URL": "https://x/v1", "MODEL": " "}, "['MODEL'] must be a model's name"),
        ({"BASE_URL": "https://x/v1", "MODEL": "m", "RATE": "lots"}, "['RATE']: 'lots' is not"),
        ({"BASE_URL": "https://x/v1", "MODEL": "m", "RATE": 60}, "['RATE']: 60 is not a rate"),
        ({"BASE_URL": "https://x/v1", "MODEL": "m", "TIMEOUT": 0}, "['TIMEOUT'] must be"),
        ({"BASE_URL": "https://x/v1", "MODEL": "m", "MAX_RETRIES": -1}, "['MAX_RETRIES'] must"),
        ({"BASE_URL": "https://x/v1", "MODEL": "m", "BACKOFF": "1s"}, "['BACKOFF'] must"),
        ({"BASE_URL": "https://x/v1", "MODEL": "m", "API_KEY": 12}, "['API_KEY'] must"),
    ],
)
def test_eval_judge_is_validated(value, problem):
    problems = validate({"EVAL_JUDGE": value})
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems
        assert problems[0].startswith("FEEDBACK_LOOP['EVAL_JUDGE']")
