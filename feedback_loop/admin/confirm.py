"""The one confirmation page of the app's admin: bulk actions, freezing a dataset, rotating a
key and retrying failures all ask first, with the same page, the way Django's delete does."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import ngettext

# What a page says: a string, or a lazily translated one.
Text = str | Promise

SHOWN = 20  # rows of the selection the page lists


def confirmation(
    model_admin,
    request,
    *,
    title: Text,
    text: Text,
    submit: Text,
    items: Iterable[str] = (),
    count: int | None = None,
    form=None,
    original=None,
    hidden: dict[str, Any] | None = None,
    selected: list[str] | None = None,
    nouns: tuple[Text, Text] | None = None,
) -> TemplateResponse:
    """The page: ``text``, up to SHOWN ``items`` (``count`` in all, counted as ``nouns``, the
    model's names by default), an optional form, and a submit button that posts back with
    ``hidden`` fields."""
    opts = model_admin.opts
    if original is not None:
        cancel = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[original.pk])
    else:
        cancel = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    items = list(items)
    count = len(items) if count is None else count
    one, many = nouns or (str(opts.verbose_name), str(opts.verbose_name_plural))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": title,
        "text": text,
        "submit": submit,
        "items": items[:SHOWN],
        "count": count,
        "applies": ngettext(
            "This applies to %(n)d %(noun)s.", "This applies to %(n)d %(noun)s.", count
        )
        % {"n": count, "noun": one if count == 1 else many},
        "more": max(count - SHOWN, 0),
        "form": form,
        "original": original,
        "hidden": hidden or {},
        "selected": selected or [],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "cancel_url": cancel,
    }
    return TemplateResponse(request, "admin/feedback_loop/confirm.html", context)


def confirm_action(
    model_admin,
    request,
    queryset,
    *,
    action: str,
    title: Text,
    text: Text,
    submit: Text,
    describe: Callable[[Any], str],
    form=None,
    nouns: tuple[Text, Text] | None = None,
) -> TemplateResponse:
    """The confirmation of a bulk action: the selection is posted again with ``apply``."""
    return confirmation(
        model_admin,
        request,
        title=title,
        text=text,
        submit=submit,
        items=(describe(obj) for obj in queryset[:SHOWN]),
        count=queryset.count(),
        form=form,
        hidden={
            "action": action,
            "apply": "yes",
            "select_across": request.POST.get("select_across", "0"),
        },
        selected=request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        nouns=nouns,
    )
