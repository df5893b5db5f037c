"""The guidance search (docs/guidance-search.md): the stored text search vectors of English and Russian, a GIN
index of each, and GIN trigram indexes of the Chinese and Japanese search texts.

On SQLite the vectors are NULL columns and the indexes exist in the migration state alone: the embedded
database searches by substring without them."""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

import guidance.models


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """AddIndex that creates (and drops) the index only on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def search_vector(suffix: str, config: str) -> migrations.AddField:
    vector = django.contrib.postgres.search.CombinedSearchVector(
        django.contrib.postgres.search.SearchVector(f"title_{suffix}", config=config, weight="A"),
        "||",
        django.contrib.postgres.search.SearchVector(f"search_text_{suffix}", config=config, weight="D"),
        django.contrib.postgres.search.SearchConfig(config),
    )
    return migrations.AddField(
        model_name="article",
        name=f"search_vector_{suffix}",
        field=models.GeneratedField(
            db_persist=True,
            expression=guidance.models.PostgreSQLOnly(vector),
            output_field=django.contrib.postgres.search.SearchVectorField(null=True),
        ),
    )


def gin_index(field: str, name: str, opclasses: tuple[str, ...] = ()) -> AddIndexOnPostgreSQL:
    return AddIndexOnPostgreSQL(
        model_name="article",
        index=django.contrib.postgres.indexes.GinIndex(fields=[field], name=name, opclasses=list(opclasses)),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("guidance", "0003_article_body_size"),
    ]

    operations = [
        # CREATE EXTENSION needs a superuser (or a trusted extension); it does nothing on SQLite.
        TrigramExtension(),
        search_vector("en", "english"),
        search_vector("ru", "russian"),
        gin_index("search_vector_en", "guidance_search_en"),
        gin_index("search_text_zh_hant", "guidance_search_zh_hant", ("gin_trgm_ops",)),
        gin_index("search_text_zh_hans", "guidance_search_zh_hans", ("gin_trgm_ops",)),
        gin_index("search_text_ja", "guidance_search_ja", ("gin_trgm_ops",)),
        gin_index("search_vector_ru", "guidance_search_ru"),
    ]
