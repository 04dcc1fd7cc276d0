import django.db.models.fields.json
from django.db import migrations, models

# PostgreSQL: prompts get a stored tsvector column with its own GIN index (assets/search.py
# matches and ranks on it). A column, unlike the former expression index, has statistics of its
# own and costs no to_tsvector() per row when a plan filters rows one by one.
PG_FORWARD = [
    "ALTER TABLE assets_asset ADD COLUMN IF NOT EXISTS prompt_search tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, prompt)) STORED;",
    "CREATE INDEX IF NOT EXISTS assets_asset_prompt_search ON assets_asset USING gin (prompt_search);",
    "DROP INDEX IF EXISTS assets_asset_prompt_fts;",
    # Newest first with each row's tsvector in the index itself: a search of a common word
    # walks this index alone (an index-only scan) instead of fetching wide rows to test them.
    "CREATE INDEX IF NOT EXISTS asset_live_search_newest ON assets_asset (created_at DESC, id DESC) "
    "INCLUDE (prompt_search) WHERE deleted_at IS NULL;",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS asset_live_search_newest;",
    "CREATE INDEX IF NOT EXISTS assets_asset_prompt_fts ON assets_asset USING gin (to_tsvector('english'::regconfig, prompt));",
    "DROP INDEX IF EXISTS assets_asset_prompt_search;",
    "ALTER TABLE assets_asset DROP COLUMN IF EXISTS prompt_search;",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in PG_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in PG_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("assets", "0005_soft_binding")]

    operations = [
        migrations.RunPython(forward, backward),
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["-created_at", "-id"],
                name="asset_live_newest",
            ),
        ),
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["plugin_id", "status", "-created_at", "-id"],
                name="asset_live_plugin_status",
            ),
        ),
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["status", "-created_at", "-id"],
                name="asset_live_status",
            ),
        ),
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(
                django.db.models.fields.json.KeyTextTransform("version", "model_identity"),
                name="asset_model_version",
            ),
        ),
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(
                django.db.models.fields.json.KeyTextTransform("spdx_id", "license"),
                name="asset_license_id",
            ),
        ),
    ]
