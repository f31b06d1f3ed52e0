"""PostgreSQL array types of model fields, for the statements that send one array per column
(``INSERT ... SELECT FROM unnest(...)``, ``UPDATE ... FROM unnest(...)``): their text is the same
for any number of rows, so the driver and the server parse it once."""

from __future__ import annotations

from django.db import models

# By field class; a subclass (PositiveIntegerField, BigAutoField...) takes its base's entry.
_ARRAY_TYPES: dict[type[models.Field], str] = {
    models.UUIDField: "uuid[]",
    models.CharField: "varchar[]",
    models.TextField: "text[]",
    models.FloatField: "float8[]",
    models.JSONField: "jsonb[]",
    models.DateTimeField: "timestamptz[]",
    models.BigIntegerField: "bigint[]",
    models.BigAutoField: "bigint[]",
    models.ForeignKey: "bigint[]",
    models.IntegerField: "integer[]",
    models.BooleanField: "boolean[]",
}


def array_type(field: models.Field) -> str:
    """The PostgreSQL array type of a field's column: ``varchar[]`` for a CharField."""
    for cls in type(field).__mro__:
        if cls in _ARRAY_TYPES:
            return _ARRAY_TYPES[cls]
    raise TypeError(f"No PostgreSQL array type is known for {type(field).__name__}.")


def column_field(model: type[models.Model], name: str) -> models.Field:
    """The field of ``model`` named ``name`` that has a column of its own (not a reverse
    relation, which ``Options.get_field`` can also return)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} has no column.")
    return field
