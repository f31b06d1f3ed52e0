"""Where a 100-event capture request spends its time: the capture view called in this process
(no server, no network) on the bench's PostgreSQL database under cProfile, next to the same
rows written by COPY, with the functions that take the most time.

    .venv/bin/python bench/profile_capture.py [--requests 300] [--events 100] [--top 25]

It is the profile bench/capture.py's figures are explained with: what a request costs in
Python (JSON parsing, token verification, validation, the voter limit's query, the insert and
the answer) against the database's share.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.capture import (
    DEFAULT_DATABASE_URL,
    TRACE_ID,
    analyze_events,
    ensure_database,
    say,
    setup_django,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    ensure_database(args.database_url)
    key, token_file = setup_django(args.database_url)
    from django.test import RequestFactory

    from bench.views import copy_batch
    from feedback_loop.api.capture import capture_response
    from feedback_loop.models import FeedbackEvent

    tokens = Path(token_file).read_text().split()
    factory = RequestFactory()

    def request(n: int, view):
        events = [
            {
                "event_id": str(uuid.uuid4()),
                "trace_id": TRACE_ID,
                "token": tokens[n % len(tokens)],
                "kind": "thumbs",
                "value": 1,
            }
            for _ in range(args.events)
        ]
        body = json.dumps({"key": key, "events": events})
        return view(factory.post("/", body, content_type="application/json"))

    timings = {}
    for name, view in (("capture view", capture_response), ("COPY view", copy_batch)):
        FeedbackEvent.objects.all().delete()
        for n in range(20):  # warm up
            request(n, view)
        analyze_events()  # as bench/capture.py: statistics, as autovacuum keeps them
        profile = cProfile.Profile() if name == "capture view" else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        for n in range(args.requests):
            response = request(n, view)
            assert response.status_code in (200, 201, 202), response.content[:300]
        if profile:
            profile.disable()
        timings[name] = (time.perf_counter() - started) / args.requests * 1000
        if profile:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
            report = out.getvalue()
    say("per request, in this process (the capture view's time includes cProfile's overhead):")
    for name, ms in timings.items():
        print(f"  {name}: {ms:.2f} ms per {args.events}-event request")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
