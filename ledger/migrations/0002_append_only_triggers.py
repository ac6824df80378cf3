"""Make ledger transactions and entries append-only in the database itself (as audit/0003 does for the
audit trail).

UPDATE is refused on every backend. DELETE is refused on PostgreSQL (row-level trigger); TRUNCATE, which test
teardown uses, is a separate statement and still works. On SQLite a DELETE trigger would also fire for the test
runner's flush, so there the product's lack of any delete path (and the PROTECT foreign keys) is the guarantee.
Accounts are not covered: their cached balance is updated by ``ledger.services`` in the posting's transaction.
"""

from django.db import migrations

TABLES = ["ledger_transaction", "ledger_entry"]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_row_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger % rows are append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_row_is_append_only();"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only (UPDATE refused)'); END;"
            )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only;")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS ledger_row_is_append_only();")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
