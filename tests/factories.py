import uuid

import factory
from django.utils import timezone

from feedback_loop.internal import keys
from feedback_loop.models import Dataset, FeedbackEvent, Project, Review, Trace


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    secret_key_hash = factory.LazyFunction(lambda: keys.hash_secret(keys.new_secret_key()))
    secret_key_prefix = "sk_test"
    require_token = True


class TraceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trace

    project = factory.SubFactory(ProjectFactory)
    trace_id = factory.LazyFunction(lambda: uuid.uuid4().hex)
    input = factory.Sequence(lambda n: f"Question {n}?")
    output = factory.Sequence(lambda n: f"Answer {n}.")
    model = "model-a"


class FeedbackEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeedbackEvent

    project = factory.SubFactory(ProjectFactory)
    event_id = factory.LazyFunction(uuid.uuid4)
    trace_key = factory.LazyFunction(lambda: uuid.uuid4().hex)
    kind = "thumbs"
    value = 1
    timestamp = factory.LazyFunction(timezone.now)


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    trace = factory.SubFactory(TraceFactory)


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Dataset {n}")
