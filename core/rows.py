"""Saving changed fields of a row that a concurrent request may have deleted: a 404, not a DatabaseError."""
from django.db import DatabaseError, transaction
from django.http import Http404

# Django's own message when an UPDATE ... WHERE pk matched nothing (the row was deleted meanwhile).
_ROW_GONE = ("Save with update_fields did not affect any rows", "Forced update did not affect any rows")


def save_fields_or_404(obj, *, update_fields, missing: str = "Not found.") -> None:
    """`obj.save(update_fields=...)`; a row that vanished since it was read is Http404 (`missing`)."""
    try:
        # A savepoint: Django marks the enclosing transaction broken when a save fails, and a caller's
        # transaction must stay usable after the 404.
        with transaction.atomic():
            obj.save(update_fields=update_fields)
    except DatabaseError as exc:
        if str(exc).startswith(_ROW_GONE):
            raise Http404(missing) from None
        raise
