"""Make the audit trail append-only in the database itself.

UPDATE is refused on every backend. DELETE is refused on PostgreSQL (row-level trigger); TRUNCATE, which test
teardown uses, is a separate statement and still works. On SQLite a DELETE trigger would also fire for the test
runner's flush, so there the product's lack of any delete path is the guarantee.
"""

from django.db import migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_record_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        schema_editor.execute(
            "CREATE TRIGGER audit_record_no_update BEFORE UPDATE OR DELETE ON audit_auditrecord "
            "FOR EACH ROW EXECUTE FUNCTION audit_record_is_append_only();"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            "CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_auditrecord "
            "BEGIN SELECT RAISE(ABORT, 'audit records are append-only (UPDATE refused)'); END;"
        )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_record_no_update ON audit_auditrecord;")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_record_is_append_only();")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_record_no_update;")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
