"""Triage classifiers that misbehave on purpose, for the real-worker tests (tests/test_worker.py):
a worker process imports them by dotted path from FEEDBACK_LOOP["TRIAGE_CLASSIFIER"]."""

import os
import signal
import time

from celery.exceptions import SoftTimeLimitExceeded


def misbehaving(trace, events):
    """``slow*`` traces sleep (the soft time limit interrupts them); ``stubborn*`` ones sleep
    through the soft limit too, so only the hard limit ends them; ``killer*`` ones kill their
    worker process. Others get no suggestion."""
    if trace.key.startswith("slow"):
        time.sleep(60)
    elif trace.key.startswith("stubborn"):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                time.sleep(deadline - time.monotonic())
            except SoftTimeLimitExceeded:
                continue
    elif trace.key.startswith("killer"):
        os.kill(os.getpid(), signal.SIGKILL)
    return []


def unhurried(trace, events):
    """A tenth of a second per negative trace: a worker that falls behind a burst."""
    time.sleep(0.1)
    return []
