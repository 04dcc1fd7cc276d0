from django.db import migrations

# Full-text search over prompts on PostgreSQL; the expression must match assets/search.py.
PG_INDEX = "CREATE INDEX IF NOT EXISTS assets_asset_prompt_fts ON assets_asset USING gin (to_tsvector('english'::regconfig, prompt));"
PG_INDEX_DROP = "DROP INDEX IF EXISTS assets_asset_prompt_fts;"


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_INDEX)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_INDEX_DROP)


class Migration(migrations.Migration):
    dependencies = [("assets", "0001_initial")]
    operations = [migrations.RunPython(add_index, drop_index)]
