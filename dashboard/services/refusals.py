"""Attempts refused before any other service saw them: one audit entry each, saying why.

The README promises every attempt on record, including refused ones. A form's refusal never reaches the
service that would have done the work, nor does a request a view turns away itself (a number that names nothing
in the team, a page left open too long), so this module records them instead. It never records what was typed into
a field named for a secret (`record_refusal` in dashboard/forms.py leaves those values out of the messages), and
masks a kept server token wherever else one was typed.
"""

from collections.abc import Mapping, Sequence

from dashboard import audit
from dashboard.models import AuditEvent, Role, Team, User


def form_refusal_record(*, actor: User | None, team: Team | None, role: Role | str | None, action: str,
                        reasons: Mapping[str, tuple[str, Sequence[str]]], target_type: str = "",
                        target_id: object = "", target_label: str = "", actor_label: str = "") -> None:
    """`reasons` maps each refused field's name to its label ("" for the whole form) and the form's messages."""
    parts = [f"{label}: {' '.join(messages)}" if label else " ".join(messages) for label, messages in reasons.values()]
    refusal_record(actor=actor, team=team, role=role, action=action, detail="Refused by the form. " + " ".join(parts),
                   actor_label=actor_label, target_type=target_type, target_id=target_id, target_label=target_label)


def refusal_record(*, actor: User | None, team: Team | None, role: Role | str | None, action: str, detail: str,
                   actor_label: str = "", target_type: str = "", target_id: object = "",
                   target_label: str = "") -> None:
    """One refused attempt, with `detail` saying why in plain words (a kept server token in it is masked).
    `actor` is None for someone not signed in; `actor_label` then names who they said they were."""
    audit.record(action=action, actor=actor, team=team, role=role, outcome=AuditEvent.Outcome.REFUSED,
                 actor_label=audit.masked_tokens(actor_label)[:254],
                 target_type=target_type, target_id=target_id, target_label=target_label,
                 detail=audit.masked_tokens(detail)[:1000])
