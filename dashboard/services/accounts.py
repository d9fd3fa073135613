"""Sign-in, sign-out and password events of people, for the audit log. Called by auth signals."""

from dashboard import audit
from dashboard.models import AuditEvent, User


def account_record_sign_in(*, actor: User) -> None:
    audit.record(action="auth.login.success", actor=actor, team=None, target_type="user",
                 target_id=actor.pk, target_label=actor.email)


def account_record_failed_sign_in(*, email: str) -> None:
    # The address someone typed, as typed (trimmed): it may not belong to anyone.
    typed = (email or "").strip()[:254]
    user = User.objects.filter(email__iexact=typed).first() if typed else None
    audit.record(action="auth.login.failure", actor=None, actor_label=typed, team=None,
                 outcome=AuditEvent.Outcome.REFUSED, target_type="user",
                 target_id=user.pk if user else "", target_label=typed,
                 detail="Wrong e-mail address or password.")


def account_record_sign_out(*, actor: User) -> None:
    audit.record(action="auth.logout", actor=actor, team=None, target_type="user",
                 target_id=actor.pk, target_label=actor.email)


def account_record_password_change(*, actor: User, by_reset_link: bool) -> None:
    audit.record(action="auth.password.reset" if by_reset_link else "auth.password.change", actor=actor,
                 team=None, target_type="user", target_id=actor.pk, target_label=actor.email)
