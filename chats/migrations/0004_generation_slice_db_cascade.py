"""PostgreSQL: a generation's slices go with it at the database level too.

Django deletes related rows itself, after collecting them; a slice the engine inserts for a still-streaming
generation between that collection and the generation's delete (its conversation being deleted mid-reply) would
fail the delete with a foreign-key error. ON DELETE CASCADE on the constraint takes that slice along.
"""
from django.db import migrations

CONSTRAINT_SQL = """
SELECT con.conname FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
WHERE rel.relname = 'chats_generationslice' AND con.contype = 'f'
"""


def cascade(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite writes one transaction at a time: the race cannot happen there
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(CONSTRAINT_SQL)
        names = [row[0] for row in cursor.fetchall()]
        for name in names:
            cursor.execute(f'ALTER TABLE chats_generationslice DROP CONSTRAINT "{name}"')
        cursor.execute(
            'ALTER TABLE chats_generationslice ADD CONSTRAINT "chats_generationslice_generation_cascade" '
            "FOREIGN KEY (generation_id) REFERENCES chats_generation (id) ON DELETE CASCADE "
            "DEFERRABLE INITIALLY DEFERRED"
        )


class Migration(migrations.Migration):
    dependencies = [("chats", "0003_job_stage_and_output_round")]

    operations = [migrations.RunPython(cascade, migrations.RunPython.noop)]
