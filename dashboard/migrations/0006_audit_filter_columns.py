"""The audit log's filters as indexed columns.

Adds each entry's server, stream ID and account (derived from its target by `dashboard.audit.filter_columns`),
fills them for the entries already written, and replaces the actor and action indexes with one composite index
per filter: the team, what is filtered on, then newest first. The new columns are not hashed, so every entry
keeps its hash and the chains verify as before; `verify_chains` checks that the columns match the hashed content.
On PostgreSQL the append-only trigger refuses UPDATE, so it is off while the columns are filled, in this
migration's transaction only.
"""

import contextlib

from django.db import migrations, models

BATCH = 2000
# Only these targets have a server, a stream or an account other than the actor (see audit.filter_columns).
DERIVED_TARGETS = ["server", "stream", "page", "user"]


def fill_filter_columns(apps, schema_editor):
    from dashboard.audit import FILTER_COLUMNS, filter_columns

    connection = schema_editor.connection
    entries = apps.get_model("dashboard", "AuditEvent").objects.using(connection.alias)
    table = connection.ops.quote_name(entries.model._meta.db_table)
    with _updatable(schema_editor):
        schema_editor.execute(f"UPDATE {table} SET account_id = actor_id WHERE actor_id IS NOT NULL", params=None)
        last_id = 0
        targets = entries.filter(target_type__in=DERIVED_TARGETS).order_by("id")
        while batch := list(targets.filter(id__gt=last_id).only("id", "target_type", "target_id", "actor_id")[:BATCH]):
            for entry in batch:
                derived = filter_columns(target_type=entry.target_type, target_id=entry.target_id,
                                         actor_id=entry.actor_id)
                for name in FILTER_COLUMNS:
                    setattr(entry, name, derived[name])
            entries.bulk_update(batch, FILTER_COLUMNS)
            last_id = batch[-1].id


@contextlib.contextmanager
def _updatable(schema_editor):
    """PostgreSQL's append-only trigger (migration 0004) off for the fill, and on again before the migration ends."""
    postgresql = schema_editor.connection.vendor == "postgresql"
    sql = "ALTER TABLE dashboard_auditevent {} TRIGGER dashboard_auditevent_no_update"
    if postgresql:
        schema_editor.execute(sql.format("DISABLE"), params=None)
    yield
    if postgresql:
        schema_editor.execute(sql.format("ENABLE"), params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0005_audit_forwarded_request_id'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_actor_time',
        ),
        migrations.RemoveIndex(
            model_name='auditevent',
            name='audit_action',
        ),
        migrations.AddField(
            model_name='auditevent',
            name='account_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='server_id',
            field=models.CharField(blank=True, db_default='', default='', max_length=100),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='stream_id',
            field=models.CharField(blank=True, db_default='', default='', max_length=100),
        ),
        migrations.RunPython(fill_filter_columns, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['team_id', 'actor_id', '-occurred_at', '-id'], name='audit_team_actor_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['team_id', 'action', '-occurred_at', '-id'], name='audit_team_action_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['team_id', 'outcome', '-occurred_at', '-id'], name='audit_team_outcome_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['team_id', 'server_id', '-occurred_at', '-id'], name='audit_team_server_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['team_id', 'stream_id', '-occurred_at', '-id'], name='audit_team_stream_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('team_id__isnull', True)), fields=['account_id', '-occurred_at', '-id'], name='audit_personal_account_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('team_id__isnull', True)), fields=['account_id', 'outcome', '-occurred_at', '-id'], name='audit_personal_outcome_time'),
        ),
    ]
