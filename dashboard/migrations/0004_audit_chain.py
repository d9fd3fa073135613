"""Tamper evidence for the audit log.

Adds each entry's place in its team's hash chain (`chain_seq`, `prev_hash`, `hash`) and the chain heads,
chains the entries already written (in the order they were written, per team), and on PostgreSQL installs
triggers that refuse UPDATE, DELETE and TRUNCATE on the audit table. A DELETE passes only while the
transaction has set `dashboard.audit_prune` to 'on', which only `manage.py prune_audit` does.
"""

from django.db import migrations, models

ZERO_HASH = "0" * 64
BATCH = 1000


def chain_existing_entries(apps, schema_editor):
    # The one definition of what an entry's hash covers lives in dashboard.audit; verify uses the same.
    from dashboard.audit import CHAIN_FIELDS, chain_content, entry_hash

    db = schema_editor.connection.alias
    entries = apps.get_model("dashboard", "AuditEvent").objects.using(db)
    heads = apps.get_model("dashboard", "AuditChainHead")
    ends = {}  # team key (0 for no team) -> (last number, last hash)
    last_id = 0
    while batch := list(entries.filter(id__gt=last_id).order_by("id")[:BATCH]):
        for entry in batch:
            key = 0 if entry.team_id is None else entry.team_id
            seq, prev_hash = ends.get(key, (0, ZERO_HASH))
            entry.chain_seq, entry.prev_hash = seq + 1, prev_hash
            entry.hash = entry_hash(chain_content({name: getattr(entry, name) for name in CHAIN_FIELDS}))
            ends[key] = (entry.chain_seq, entry.hash)
        entries.bulk_update(batch, ["chain_seq", "prev_hash", "hash"])
        last_id = batch[-1].id
    heads.objects.using(db).bulk_create(
        [heads(team_key=key, seq=seq, last_hash=last_hash) for key, (seq, last_hash) in ends.items()]
    )


APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION dashboard_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('dashboard.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'The audit log is append-only, so % on its entries is refused. Only manage.py prune_audit removes entries, once they are older than the retention period (AUDIT_RETENTION_DAYS).', TG_OP;
END;
$$;
CREATE TRIGGER dashboard_auditevent_no_update BEFORE UPDATE ON dashboard_auditevent
    FOR EACH ROW EXECUTE FUNCTION dashboard_audit_append_only();
CREATE TRIGGER dashboard_auditevent_no_delete BEFORE DELETE ON dashboard_auditevent
    FOR EACH ROW EXECUTE FUNCTION dashboard_audit_append_only();
CREATE TRIGGER dashboard_auditevent_no_truncate BEFORE TRUNCATE ON dashboard_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_audit_append_only();
"""

DROP_APPEND_ONLY_SQL = """
DROP TRIGGER IF EXISTS dashboard_auditevent_no_update ON dashboard_auditevent;
DROP TRIGGER IF EXISTS dashboard_auditevent_no_delete ON dashboard_auditevent;
DROP TRIGGER IF EXISTS dashboard_auditevent_no_truncate ON dashboard_auditevent;
DROP FUNCTION IF EXISTS dashboard_audit_append_only();
"""


def install_append_only_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL, params=None)


def remove_append_only_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_ONLY_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0003_user_time_zone_server_stream_state'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('team_key', models.BigIntegerField(unique=True)),
                ('seq', models.PositiveBigIntegerField(default=0)),
                ('last_hash', models.CharField(max_length=64)),
            ],
        ),
        migrations.AddField(
            model_name='auditevent',
            name='chain_seq',
            field=models.PositiveBigIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(default='', max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='auditevent',
            name='hash',
            field=models.CharField(default='', max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(chain_existing_entries, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.UniqueConstraint(fields=('team_id', 'chain_seq'), name='audit_chain_seq_unique'),
        ),
        migrations.RunPython(install_append_only_triggers, remove_append_only_triggers, elidable=False),
    ]
