"""Dataset pages: items, exports and frozen versions."""

import pytest

from feedback_loop.models import (
    Dataset,
    DatasetKind,
    DatasetVersion,
    Trace,
)
from tests.curation import ADMIN, page

pytestmark = pytest.mark.django_db

# -- datasets ----------------------------------------------------------------------------------


def test_a_dataset_page_exports_and_freezes(admin_client, queue):
    dataset = Dataset.objects.create(project=queue, name="Pairs", kind=DatasetKind.PREFERENCE)
    from feedback_loop.internal.datasets import add_traces

    add_traces(dataset, Trace.objects.values_list("pk", flat=True))
    text = page(admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/change/"))
    assert "?format=dpo" in text and "?format=openai-preference" in text
    assert "?format=openai-chat" not in text  # does not fit a preference set
    # The export page says what the export holds, and offers the download.
    export_page = page(admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/export/", {"format": "dpo"}))
    assert "1 rows from 1 items." in export_page
    assert "download=1" in export_page and 'name="dpo_form"' in export_page
    export = admin_client.get(
        f"{ADMIN}/dataset/{dataset.pk}/export/", {"format": "dpo", "download": "1"}
    )
    assert b'"chosen": [{"role": "assistant", "content": "Paris."}]' in b"".join(
        export.streaming_content
    )
    assert "copy of its 1 items" in page(admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/freeze/"))
    admin_client.post(f"{ADMIN}/dataset/{dataset.pk}/freeze/", {"note": "v1"})
    version = DatasetVersion.objects.get()
    assert (version.number, version.item_count, version.note) == (1, 1, "v1")
    text = page(admin_client.get(f"{ADMIN}/dataset/{dataset.pk}/change/"))
    assert "version=1" in text
    # A frozen version is read-only.
    change = admin_client.get(f"{ADMIN}/datasetversion/{version.pk}/change/")
    assert 'name="_save"' not in page(change)


def test_adding_an_item_that_is_already_in_the_dataset_is_a_form_error(admin_client, project):
    from feedback_loop.models import DatasetItem

    dataset = Dataset.objects.create(project=project, name="Set")
    DatasetItem.objects.create(dataset=dataset, input="q", expected_output="a")
    response = admin_client.post(
        f"{ADMIN}/datasetitem/add/",
        {"dataset": dataset.pk, "input": "q", "expected_output": "a", "metadata": "{}"},
    )
    assert "already has an item with this content" in page(response)
    assert dataset.items.count() == 1


def test_the_app_index_leads_to_the_queue_review_mode_and_dashboard(admin_client):
    text = page(admin_client.get("/admin/feedback_loop/"))
    for url in (f"{ADMIN}/trace/", f"{ADMIN}/trace/review/", f"{ADMIN}/trace/dashboard/"):
        assert f'href="{url}"' in text
