"""The pipeline's short ways to the database, each a stand-in for an ORM call that cost more in
Python than the statement it sent: ``loaded`` for ``only()``, ``AnyOf`` and ``keys_q`` for long
``__in`` lists, ``insert_rows`` for ``bulk_create``; and the PostgreSQL array types of model
fields for the statements that send one array per column (``INSERT ... SELECT FROM
unnest(...)``, ``UPDATE ... FROM unnest(...)``), whose text is the same for any number of rows.
Each falls back to the ORM call it replaces on SQLite; tests/test_sql_helpers.py holds both to
the same results."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models import F, Func, Q
from django.db.models.base import ModelState
from django.db.models.lookups import In, Lookup
from django.db.models.signals import post_init

from feedback_loop.models import trace_keys_q

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


class AnyOf(Lookup):
    """``column = ANY(%s::type[])`` with the values as one array parameter on PostgreSQL, an
    ``IN (...)`` list elsewhere: ``queryset.filter(AnyOf(F("pk"), ids))``.

    For the pipeline's long lists (2,000 event ids a task): ``IN`` puts a placeholder per value
    in the statement, which the driver then parses and quotes one by one on every call; an array
    is one parameter, and the statement's text is the same for any number of values."""

    lookup_name = "any_of"  # used as an expression, never registered on a field
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            return In(self.lhs, list(self.rhs)).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=False) for v in self.rhs]
        return f"{lhs} = ANY(%s::{array_type(field)})", (*lhs_params, values)


def loaded(queryset: models.QuerySet, fields: Sequence[str]) -> Iterator[Any]:
    """The rows of ``queryset`` as instances of its model holding ``fields`` only (the others
    load on access, as with ``only()``), built from ``values_list()`` rows without running
    ``Model.__init__`` per row, which costs more than fetching and decoding the row. The
    instances are what ``only()`` would give: ``post_init`` is sent for each, they compare,
    save and load deferred fields as usual.

    On PostgreSQL (with USE_TZ) times travel as whole microseconds since the epoch: Django's
    loader of ``timestamptz`` text, in Python, took a third of the pipeline's reading.

    For the pipeline's reads of thousands of events per batch."""
    model = queryset.model
    fields_ = [column_field(model, name) for name in fields]
    names = [field.attname for field in fields_]
    selected = list(names)
    times: list[int] = []
    if settings.USE_TZ and connections[queryset.db].vendor == "postgresql":
        times = [i for i, f in enumerate(fields_) if isinstance(f, models.DateTimeField)]
        for i in times:
            selected[i] = f"fl_micros_{names[i]}"
        queryset = queryset.annotate(**{selected[i]: _Micros(F(names[i])) for i in times})
    db = queryset.db
    new = object.__new__  # what Model.__new__ is; Model.__init__ is what is skipped
    # Asked once: Signal.send finds out anew for every row whether anyone listens.
    listened = post_init.has_listeners(model)
    for row in queryset.values_list(*selected):
        values = dict(zip(names, row, strict=True))
        for i in times:
            micros = row[i]
            if micros is not None:
                values[names[i]] = _EPOCH + timedelta(microseconds=micros)
        instance = new(model)
        instance.__dict__.update(values)
        state = instance._state = ModelState()
        state.adding = False
        state.db = db
        if listened:
            post_init.send(sender=model, instance=instance)
        yield instance


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Micros(Func):
    """A ``timestamptz`` as whole microseconds since the epoch (exact: EXTRACT gives a numeric
    on PostgreSQL 14 and later)."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
    output_field = models.BigIntegerField()


def keys_q(keys: Iterable[tuple[int, str]], *, key: str = "trace_key") -> Q:
    """``trace_keys_q`` with each project's trace ids as one array (``AnyOf``): the pipeline
    names a few hundred traces per chunk."""
    return trace_keys_q(keys, key=key, one_of=AnyOf)


def insert_rows(
    model: type[models.Model],
    objs: Sequence[models.Model],
    vary: Sequence[str],
    using: str,
    *,
    unique_fields: Sequence[str] = (),
    update_fields: Sequence[str] = (),
) -> None:
    """``bulk_create(objs, ignore_conflicts=True)``, or with ``unique_fields`` and
    ``update_fields`` an upsert, for rows that differ only in the fields ``vary``: on PostgreSQL
    one ``INSERT ... SELECT FROM unnest(...)`` with an array for each of those fields and every
    other column sent once, from the first object (its defaults, ``auto_now`` times), without
    the ORM preparing each value of each row. A review per flagged trace is one array of trace
    ids instead of ten arrays."""
    if not objs:
        return
    connection = connections[using]
    if connection.vendor != "postgresql":
        model._default_manager.using(using).bulk_create(
            objs,
            ignore_conflicts=not unique_fields,
            update_conflicts=bool(unique_fields),
            unique_fields=unique_fields or None,
            update_fields=update_fields or None,
        )
        return
    q = connection.ops.quote_name
    column = {
        name: q(str(column_field(model, name).column)) for name in (*unique_fields, *update_fields)
    }
    varying = [column_field(model, name) for name in vary]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    first = objs[0]
    selected, params = [], []
    for field in fields:
        if field in varying:
            selected.append(f"u.{q(str(field.column))}")
        else:
            selected.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(first, add=True), connection))
    arrays = ", ".join(f"%s::{array_type(f)}" for f in varying)
    names = ", ".join(q(str(f.column)) for f in varying)
    params += [[getattr(obj, f.attname) for obj in objs] for f in varying]
    conflict = "ON CONFLICT DO NOTHING"
    if unique_fields:
        conflict = (
            f"ON CONFLICT ({', '.join(column[n] for n in unique_fields)}) DO UPDATE SET "
            + ", ".join(f"{column[n]} = EXCLUDED.{column[n]}" for n in update_fields)
        )
    sql = (
        f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(str(f.column)) for f in fields)}) "
        f"SELECT {', '.join(selected)} FROM unnest({arrays}) AS u({names}) {conflict}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
