"""A person's own account: sign-in, sign-out, lockout and password events for the audit log (called by auth
signals), how often one address may ask for password reset links or open links that don't work, and their time
zone."""

from django.conf import settings
from django.core.cache import cache

from dashboard import audit
from dashboard.models import AuditEvent, User
from dashboard.page_names import masked_path
from dashboard.services import ServiceError
from dashboard.services.refusals import refusal_record
from dashboard.time_zones import is_known_zone


def account_record_sign_in(*, actor: User) -> None:
    audit.record(action="auth.login.success", actor=actor, team=None, target_type="user",
                 target_id=actor.pk, target_label=actor.email)


def _typed_address(email: str) -> tuple[str, User | None]:
    # The address someone typed, as typed (trimmed; a server token pasted into it masked): it may belong to no one.
    typed = (email or "").strip()[:254]
    user = User.objects.filter(email__iexact=typed).first() if typed else None
    return audit.masked_tokens(typed), user


def account_record_failed_sign_in(*, email: str, while_locked_out: bool = False) -> None:
    typed, user = _typed_address(email)
    audit.record(action="auth.login.failure", actor=None, actor_label=typed, team=None,
                 outcome=AuditEvent.Outcome.REFUSED, target_type="user",
                 target_id=user.pk if user else "", target_label=typed,
                 detail="Refused unchecked: too many sign-in attempts." if while_locked_out
                 else "Wrong e-mail address or password.")


def account_record_sign_in_locked(*, email: str, by_address: bool = False) -> None:
    """The failure that reached a limit: sign-in for this account (or, `by_address`, from this address) now
    waits."""
    typed, user = _typed_address(email)
    reached = (f"{settings.SIGN_IN_ADDRESS_FAILURE_LIMIT} failed sign-ins from this address" if by_address
               else f"{settings.SIGN_IN_FAILURE_LIMIT} failed sign-ins for this account")
    audit.record(action="auth.login.locked", actor=None, actor_label=typed, team=None,
                 outcome=AuditEvent.Outcome.REFUSED, target_type="user",
                 target_id=user.pk if user else "", target_label=typed,
                 detail=f"{reached}; sign-in refused for {settings.SIGN_IN_COOLOFF_MINUTES} minutes.")


def _count_key(kind: str, address: str | None) -> str:
    return f"{kind}:{address or 'unknown'}"


def _count_from(kind: str, address: str | None) -> int:
    """Counts one more `kind` of attempt from `address` in the current cool-off period, and says how many so far.
    The count lives in the cache, which every instance shares when REDIS_URL is set."""
    key, timeout = _count_key(kind, address), settings.SIGN_IN_COOLOFF_MINUTES * 60
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def account_password_reset_request_allowed(*, address: str | None) -> bool:
    """Counts a reset request from `address`; False once it made more than the sign-in failure limit in a
    cool-off period."""
    return _count_from("password-reset-requests", address) <= settings.SIGN_IN_FAILURE_LIMIT


_BROKEN_LINKS = "broken-links"


def account_links_refused(*, address: str | None) -> bool:
    """True while `address` opened too many invitation or reset links that don't work (made up, or mistyped)
    in a cool-off period: links, even good ones, then wait, so guessing them is no quicker than guessing
    passwords."""
    return (cache.get(_count_key(_BROKEN_LINKS, address)) or 0) >= settings.SIGN_IN_ADDRESS_FAILURE_LIMIT


def account_count_broken_link(*, address: str | None, action: str) -> None:
    """One more invitation or reset link from `address` that names nothing. The one that reaches the limit is put
    on record under `action` (never the link itself)."""
    if _count_from(_BROKEN_LINKS, address) == settings.SIGN_IN_ADDRESS_FAILURE_LIMIT:
        refusal_record(actor=None, team=None, role=None, action=action,
                       target_type="invitation" if action == "invitation.accept" else "user",
                       detail=f"{settings.SIGN_IN_ADDRESS_FAILURE_LIMIT} invitation or reset links that don't work "
                              f"were opened from this address; its links are refused for "
                              f"{settings.SIGN_IN_COOLOFF_MINUTES} minutes.")


_CSRF_REFUSALS = "csrf-refusals"


def account_record_signed_out_csrf_failure(*, path: str, address: str | None, typed_email: str = "") -> None:
    """Someone not signed in sent a form the CSRF check refused, most often a sign-in page left open too long. On
    record (naming the account typed into a sign-in form, if there is one) up to SIGN_IN_ADDRESS_FAILURE_LIMIT
    times from one address in a cool-off period, so that nobody can fill the log with them; the one that reaches
    the limit says so."""
    count = _count_from(_CSRF_REFUSALS, address)
    limit = settings.SIGN_IN_ADDRESS_FAILURE_LIMIT
    if count > limit:
        return
    typed, user = _typed_address(typed_email)
    # Whoever typed the address need not own it: the account is named as the target, never as the actor.
    detail = (f"The sign-in form for {typed} was open too long or came from another site." if user is not None
              else "The form was open too long or came from another site.")
    if count == limit:
        detail += (f" {limit} such forms from this address: more in the next {settings.SIGN_IN_COOLOFF_MINUTES} "
                   "minutes are refused without an entry.")
    if user is not None:
        target = {"target_type": "user", "target_id": user.pk, "target_label": typed}
    else:
        target = {"target_type": "page", "target_id": path[:100], "target_label": masked_path(path)}
    audit.record(action="access.csrf", actor=None, team=None, outcome=AuditEvent.Outcome.DENIED, detail=detail,
                 **target)


def account_record_sign_out(*, actor: User) -> None:
    audit.record(action="auth.logout", actor=actor, team=None, target_type="user",
                 target_id=actor.pk, target_label=actor.email)


def account_record_password_change(*, actor: User, by_reset_link: bool) -> None:
    audit.record(action="auth.password.reset" if by_reset_link else "auth.password.change", actor=actor,
                 team=None, target_type="user", target_id=actor.pk, target_label=actor.email)


def account_set_time_zone(*, actor: User, time_zone: str) -> User:
    """Choose the zone the dashboard shows times in; blank goes back to the browser's zone."""
    time_zone = (time_zone or "").strip()
    if time_zone and not is_known_zone(time_zone):
        message = (f"'{time_zone[:64]}' is not a time zone we know. Pick one from the list, such as "
                   "Europe/Berlin or America/New_York.")
        refusal_record(actor=actor, team=None, role=None, action="account.time_zone", target_type="user",
                       target_id=actor.pk, target_label=actor.email, detail=message)
        raise ServiceError(message, field="time_zone")
    if time_zone == actor.time_zone:
        return actor
    old = actor.time_zone
    actor.time_zone = time_zone
    actor.save(update_fields=["time_zone"])
    audit.record(action="account.time_zone", actor=actor, team=None, target_type="user", target_id=actor.pk,
                 target_label=actor.email,
                 changes={"time_zone": [old or "browser's zone", time_zone or "browser's zone"]})
    return actor
