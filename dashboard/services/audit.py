"""Services about the audit log itself: recording that someone exported it.

Reading the log is `dashboard.audit_log` (selectors); writing an entry is `dashboard.audit.record`, called here.
"""

import re

from dashboard import audit
from dashboard.audit_log import AuditFilters
from dashboard.models import AuditEvent, Role, Team, User
from dashboard.services import ServiceError
from dashboard.services.teams import role_of

Outcome = AuditEvent.Outcome
FORMATS = {"csv": "CSV", "jsonl": "JSON Lines"}
# A filter typed by hand may be shaped like a token (a UUID), which the log refuses to hold.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def audit_export_record(*, actor: User, team: Team, fmt: str, filters: AuditFilters) -> AuditEvent:
    """Record an export before it is sent, with the filters in words, so the log shows who took which part of it."""
    role = role_of(actor, team)
    event = {"action": "audit.export", "actor": actor, "team": team, "role": role, "target_type": "team",
             "target_id": team.pk, "target_label": team.name}
    if fmt not in FORMATS:
        raise ServiceError("The audit log can be downloaded as CSV or as JSON Lines.")
    if not role.at_least(Role.ADMIN):
        audit.record(**event, outcome=Outcome.DENIED, detail="Exporting the audit log needs the Admin role or higher.")
        raise ServiceError("Only admins and owners can export the audit log.")
    words = _UUID.sub("…", filters.in_words())
    return audit.record(**event, detail=f"As {FORMATS[fmt]}. {words}.")
