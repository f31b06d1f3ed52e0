from __future__ import annotations

from base64 import b64decode
from datetime import UTC
from urllib import parse

from django.conf import settings
from django.utils.dateparse import parse_datetime
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.pagination import Cursor, CursorPagination

from feedback_loop.conf import app_settings


class InvalidCursor(APIException):
    # 404 as in DRF (the page it points to does not exist), and as the OpenAPI document says.
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "invalid_cursor"
    default_detail = (
        "This cursor is not one the API gave out. Use the next and previous links as they are, "
        "or start again without cursor."
    )


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        self.page_size = app_settings.PAGE_SIZE
        self.max_page_size = app_settings.MAX_PAGE_SIZE
        raw = request.query_params.get(self.page_size_query_param)
        # DRF quietly falls back to the default for a bad value; say what is wrong instead.
        if raw is not None and not (raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError(
                {"page_size": [f"A whole number from 1 to {self.max_page_size}, not {raw!r}."]}
            )
        return super().get_page_size(request)

    def decode_cursor(self, request):
        # Stricter than DRF's, which skips characters outside base64 (so "!!!" read as the first
        # page), caps a huge offset (an empty page) and hands any position to the database
        # (where one that is not a timestamp was a 500), and says what to do instead.
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            return self._decode(encoded)
        except (ValueError, OverflowError):  # binascii.Error and Unicode errors are ValueErrors
            raise InvalidCursor from None

    def _decode(self, encoded: str) -> Cursor:
        text = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
        fields = parse.parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
        if set(fields) - {"o", "r", "p"} or any(len(values) > 1 for values in fields.values()):
            raise ValueError(text)
        offset = fields.get("o", ["0"])[0]
        reverse = fields.get("r", ["0"])[0]
        if not (offset.isascii() and offset.isdigit() and int(offset) <= self.offset_cutoff):
            raise ValueError(offset)
        if reverse not in ("0", "1"):
            raise ValueError(reverse)
        position = fields.get("p", [None])[0]
        if position is not None:
            position = self._position(position)
        # DRF's stubs type the position as an int; DRF itself keeps the text it was given.
        return Cursor(offset=int(offset), reverse=reverse == "1", position=position)  # type: ignore[arg-type]

    def _position(self, text: str) -> str:
        """A ``created_at`` as DRF writes it (``str()`` of the datetime the database gave, in
        UTC); ValueError if the text is not one, OverflowError if it is out of range in UTC."""
        when = parse_datetime(text)
        if when is None or (when.tzinfo is not None) != settings.USE_TZ:
            raise ValueError(text)
        return str(when.astimezone(UTC) if when.tzinfo else when)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=app_settings.MAX_PAGE_SIZE)
        return parameters
