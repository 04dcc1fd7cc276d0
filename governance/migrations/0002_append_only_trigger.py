from django.db import migrations

PG_TRIGGER = """
CREATE OR REPLACE FUNCTION governance_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (%% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER governance_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON governance_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_auditevent_append_only();
"""
PG_TRIGGER_DROP = """
DROP TRIGGER IF EXISTS governance_auditevent_no_update_delete ON governance_auditevent;
DROP FUNCTION IF EXISTS governance_auditevent_append_only();
"""
# SQLite refuses UPDATE only: Django's test flush empties tables with DELETE there.
# Production runs on PostgreSQL, where both UPDATE and DELETE are refused.
SQLITE_TRIGGER = """
CREATE TRIGGER governance_auditevent_no_update BEFORE UPDATE ON governance_auditevent
BEGIN SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)'); END;
"""
SQLITE_TRIGGER_DROP = "DROP TRIGGER IF EXISTS governance_auditevent_no_update;"


def add_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_TRIGGER)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def drop_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_TRIGGER_DROP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER_DROP)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]
    operations = [migrations.RunPython(add_trigger, drop_trigger)]
