"""Invitations: the only way into a team. Creating, revoking and accepting them.

The link's token is 256 random bits, shown once in the e-mail and stored only as its SHA-256
digest; an invitation is single-use, expires after `INVITATION_LIFETIME`, and a team may send at
most `INVITATIONS_PER_HOUR`.
"""

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from dashboard import audit
from dashboard.models import AuditEvent, Invitation, Membership, Role, Team, User
from dashboard.services import ServiceError
from dashboard.services.refusals import refusal_record
from dashboard.services.teams import role_of

Outcome = AuditEvent.Outcome


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_for_token(token: str) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    return Invitation.objects.select_related("team", "invited_by").filter(token_digest=_digest(token)).first()


def invitation_create(
    *, actor: User, team: Team, email: str, role: Role | str, link_for: Callable[[str], str]
) -> Invitation:
    """Invite `email` to `team`; `link_for(token)` gives the absolute link the e-mail carries."""
    email = User.objects.normalize_email(email.strip()).lower()
    role = Role(role)
    actor_role = role_of(actor, team)

    def refuse(message: str, field: str | None = "email") -> ServiceError:
        audit.record(action="member.invite", actor=actor, team=team, role=actor_role, outcome=Outcome.REFUSED,
                     target_type="invitation", target_label=audit.masked_tokens(email),
                     changes={"role": [None, role.label]}, detail=message)
        return ServiceError(message, field=field)

    if audit.holds_a_token(email):  # the invitation's address goes to every admin's page and into an e-mail
        raise refuse(audit.TOKEN_TYPED)

    if not actor_role.at_least(Role.ADMIN):
        raise refuse("Only admins and owners can invite people.", None)
    if not actor_role.at_least(role):
        raise refuse(f"You can invite people as {actor_role.label} at most, not {role.label}.", "role")
    if team.memberships.filter(user__email__iexact=email).exists():
        raise refuse(f"{email} is already a member of {team.name}.")
    now = timezone.now()
    if team.invitations.filter(email__iexact=email, accepted_at=None, revoked_at=None, expires_at__gt=now).exists():
        raise refuse(f"{email} already has an invitation waiting. Revoke it first to send a new one.")
    recent = team.invitations.filter(created_at__gt=now - timedelta(hours=1)).count()
    if recent >= settings.INVITATIONS_PER_HOUR:
        raise refuse(f"{team.name} has sent {recent} invitations in the last hour, the most allowed. "
                     "Try again later.", None)
    token = secrets.token_urlsafe(32)
    with audit.atomic():
        invitation = Invitation.objects.create(
            team=team, email=email, role=role, token_digest=_digest(token), invited_by=actor,
            created_at=now, expires_at=now + settings.INVITATION_LIFETIME,
        )
        audit.record(action="member.invite", actor=actor, team=team, role=actor_role, target_type="invitation",
                     target_id=invitation.pk, target_label=email, changes={"role": [None, role.label]})
        link = link_for(token)
        transaction.on_commit(lambda: _send(invitation, link))
    return invitation


def _send(invitation: Invitation, link: str) -> None:
    context = {"invitation": invitation, "link": link, "inviter": invitation.invited_by}
    send_mail(
        subject=f"You're invited to {invitation.team.name} on Streams Dashboard",
        message=render_to_string("dashboard/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_revoke(*, actor: User, team: Team, invitation: Invitation) -> None:
    actor_role = role_of(actor, team)
    args = {"action": "invitation.revoke", "actor": actor, "team": team, "role": actor_role,
            "target_type": "invitation", "target_id": invitation.pk, "target_label": invitation.email}
    message = None
    if not invitation.is_pending:
        message = f"This invitation is already {invitation.status.label.lower()}; there is nothing to revoke."
    elif not actor_role.at_least(Role.ADMIN) or not actor_role.at_least(invitation.role):
        message = f"Only someone with the {Role(invitation.role).label} role or higher can revoke this invitation."
    if message:
        audit.record(**args, outcome=Outcome.REFUSED, detail=message)
        raise ServiceError(message)
    invitation.revoked_at = timezone.now()
    invitation.revoked_by = actor
    invitation.save(update_fields=["revoked_at", "revoked_by"])
    audit.record(**args, changes={"status": ["Waiting for an answer", "Revoked"]})


def _refusal_for(invitation: Invitation, user: User) -> str | None:
    status = invitation.status
    if status == Invitation.Status.ACCEPTED:
        return "This invitation has already been used. Sign in to see your teams."
    if status == Invitation.Status.REVOKED:
        return f"This invitation was revoked. Ask an admin of {invitation.team.name} for a new one."
    if status == Invitation.Status.EXPIRED:
        return f"This invitation expired on {invitation.expires_at:%d %B %Y}. Ask an admin of " \
               f"{invitation.team.name} for a new one."
    if user.email.lower() != invitation.email.lower():
        return f"This invitation is for {invitation.email}, but you are signed in as {user.email}. " \
               f"Sign out, then open the link again and sign in as {invitation.email}."
    return None


def invitation_accept(*, actor: User, invitation: Invitation) -> Membership:
    team = invitation.team
    with audit.atomic():
        invitation = Invitation.objects.select_for_update().select_related("team").get(pk=invitation.pk)
        args = {"action": "invitation.accept", "actor": actor, "team": team, "role": invitation.role,
                "target_type": "invitation", "target_id": invitation.pk, "target_label": invitation.email}
        message = _refusal_for(invitation, actor)
        if message:
            audit.record(**args, outcome=Outcome.REFUSED, detail=message)
            raise ServiceError(message)
        membership, created = Membership.objects.get_or_create(team=team, user=actor,
                                                               defaults={"role": invitation.role})
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = actor
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        audit.record(**args, changes={"role": [None if created else membership.get_role_display(),
                                               membership.get_role_display()]},
                     detail="" if created else "Was already a member; the role did not change.")
    return membership


def invitation_refusal_record(*, invitation: Invitation, detail: str) -> None:
    """Someone not signed in, holding the invitation's link, was refused: in the inviting team's log, under
    the address the invitation is for (the link says who they claim to be)."""
    refusal_record(actor=None, actor_label=invitation.email, team=invitation.team, role=invitation.role,
                   action="invitation.accept", target_type="invitation", target_id=invitation.pk,
                   target_label=invitation.email, detail=detail)


def invitation_accept_as_new_person(*, invitation: Invitation, name: str, password: str) -> Membership:
    """For an address with no account yet: make the account with this password, then accept."""

    def refuse(message: str, field: str | None = None) -> ServiceError:
        invitation_refusal_record(invitation=invitation, detail=message)
        return ServiceError(message, field=field)

    if User.objects.filter(email__iexact=invitation.email).exists():
        raise refuse(f"{invitation.email} already has an account. Sign in to accept the invitation.")
    if not invitation.is_pending:
        raise refuse(_refusal_for(invitation, User(email=invitation.email)))
    user = User(email=invitation.email, name=" ".join(name.split()))
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        # The reasons only: never the password itself.
        raise refuse(" ".join(error.messages), field="password1") from None
    with audit.atomic():
        user.set_password(password)
        user.save()
        return invitation_accept(actor=user, invitation=invitation)
