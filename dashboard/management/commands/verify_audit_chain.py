"""`manage.py verify_audit_chain`: prove that no audit log entry was changed, removed or reordered.

Walks each team's hash chain (and the chain of entries without a team) in the order the entries were
written and recomputes every hash. Exits 0 when all verify, 1 naming the first entry that does not.
"""

from datetime import UTC

from django.core.management.base import BaseCommand, CommandError

from dashboard import audit
from dashboard.models import Team


class Command(BaseCommand):
    help = (
        "Check that no audit log entry was changed, removed or reordered since it was written. Names the first "
        "entry that does not verify and exits with status 1; exits 0 when every entry verifies."
    )

    def add_arguments(self, parser):
        parser.add_argument("--team", metavar="SLUG_OR_ID",
                            help="Check only this team's entries: its slug, or its id (also for a deleted team; "
                                 "0 for the entries that belong to no team).")

    def handle(self, *args, team: str | None, **options):
        report = audit.verify_chains(team_id=self._team_id(team) if team else None)
        if report.broken is None:
            self.stdout.write(f"OK: {report.entries} entries in {report.chains} chains verified")
            return
        self.stderr.write(describe(report.broken))
        self.stderr.write(
            f"{report.entries} entries verified before the check stopped there. Compare the log with the copy "
            "shipped to the 'dashboard.audit.ship' logger to see what it said when it was written.")
        raise SystemExit(1)

    def _team_id(self, given: str) -> int:
        given = given.strip()
        if given.isdigit():
            return int(given)
        team_id = Team.objects.filter(slug=given).values_list("pk", flat=True).first()
        if team_id is None:
            raise CommandError(f"No team has the slug '{given}'. Give a team's slug, or its id.")
        return team_id


def describe(broken: audit.ChainBreak) -> str:
    if broken.team_id is None:
        team = "no team"
    else:
        team = f"team {broken.team_label} (id {broken.team_id})" if broken.team_label else f"team id {broken.team_id}"
    if broken.entry_id is None:
        chain = "The audit log of entries without a team" if broken.team_id is None else f"The audit log of {team}"
        return f"{chain} does not verify: {broken.reason}."
    when = broken.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f"Audit log entry {broken.entry_id} does not verify: {broken.reason}.\n"
            f"  It says it was written {when}, action {broken.action}, {team}.")
