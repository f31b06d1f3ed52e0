import uuid

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from feedback_loop import keys
from feedback_loop.models import (
    Dataset,
    DatasetItem,
    ErrorMode,
    FeedbackEvent,
    Project,
    Review,
    Trace,
)


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
    key = factory.LazyFunction(lambda: uuid.uuid4().hex)
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


class ErrorModeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ErrorMode

    project = factory.SubFactory(ProjectFactory)
    slug = factory.Sequence(lambda n: f"mode-{n}")
    name = factory.Sequence(lambda n: f"Mode {n}")


class DatasetItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetItem

    dataset = factory.SubFactory(DatasetFactory)
    input = factory.Sequence(lambda n: f"Item question {n}?")
    expected_output = factory.Sequence(lambda n: f"Item answer {n}.")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("password")
    is_staff = False
    is_superuser = False
