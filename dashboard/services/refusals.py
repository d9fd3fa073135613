"""Attempts a form refused before any other service saw them: one audit entry each, saying which fields and why.

The README promises every attempt on record, including refused ones. A form's refusal never reaches the
service that would have done the work, so this module records it instead. It never records what was typed into
a field named for a secret (`record_refusal` in dashboard/forms.py leaves those values out of the messages), and
masks a kept server token wherever else one was typed.
"""

from collections.abc import Mapping, Sequence

from dashboard import audit
from dashboard.models import AuditEvent, Role, Team, User


def form_refusal_record(*, actor: User, team: Team | None, role: Role | str | None, action: str,
                        reasons: Mapping[str, tuple[str, Sequence[str]]], target_type: str = "",
                        target_id: object = "", target_label: str = "") -> None:
    """`reasons` maps each refused field's name to its label ("" for the whole form) and the form's messages."""
    parts = [f"{label}: {' '.join(messages)}" if label else " ".join(messages) for label, messages in reasons.values()]
    detail = audit.masked_tokens("Refused by the form. " + " ".join(parts))
    audit.record(action=action, actor=actor, team=team, role=role, outcome=AuditEvent.Outcome.REFUSED,
                 target_type=target_type, target_id=target_id, target_label=target_label, detail=detail[:1000])
