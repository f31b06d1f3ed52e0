from __future__ import annotations

from rest_framework.pagination import CursorPagination

from feedback_loop.conf import app_settings


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        self.page_size = app_settings.PAGE_SIZE
        self.max_page_size = app_settings.MAX_PAGE_SIZE
        return super().get_page_size(request)
