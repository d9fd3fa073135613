"""`manage.py prune_audit`: remove audit log entries older than AUDIT_RETENTION_DAYS. Run it daily.

The only path that removes entries (on PostgreSQL, the only one past the append-only triggers). It
records its own entry, which anchors what is left of each chain, so `verify_audit_chain` still passes.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard import audit


class Command(BaseCommand):
    help = (
        "Remove audit log entries older than AUDIT_RETENTION_DAYS (default 400 days) and record that it did, "
        "so the rest of the log still verifies with verify_audit_chain."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be removed.")
        parser.add_argument("--batch-size", type=int, default=2000, metavar="N",
                            help="How many entries to remove per statement (default 2000).")

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        days = settings.AUDIT_RETENTION_DAYS
        with audit.context(request_id=audit.new_request_id()):
            report = audit.prune(retention_days=days, dry_run=dry_run, batch_size=batch_size)
        before = f"older than {days} days (written before {report.cutoff:%Y-%m-%d %H:%M} UTC)"
        if dry_run:
            self.stdout.write(f"Dry run: {report.removed} audit log entries are {before} and would be removed. "
                              "Nothing was changed.")
            return
        self.stdout.write(f"Removed {report.removed} audit log entries {before}.")
        self.stdout.write(f"The removal is itself in the audit log (entry {report.event.pk}), and what is left "
                          "still verifies with `manage.py verify_audit_chain`.")
