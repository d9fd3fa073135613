"""Teams and their members: creating and deleting teams, roles, removing and leaving, denied access.

The rules of roles live here: nobody grants a role above their own or changes someone with more
access, and a team always keeps at least one owner.
"""


from django.conf import settings
from django.utils.text import slugify

from dashboard import audit
from dashboard.models import AuditEvent, Membership, Role, Team, User
from dashboard.page_names import masked_path, page_name
from dashboard.services import ServiceError
from dashboard.services.refusals import refusal_record

Outcome = AuditEvent.Outcome
RESERVED_SLUGS = {"new", "teams", "admin", "accounts", "invitations", "static", "healthz"}


def membership_of(*, user: User, team: Team) -> Membership | None:
    return Membership.objects.filter(team=team, user=user).first()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "team"
    if base in RESERVED_SLUGS:
        base = f"{base}-team"
    slug, n = base, 2
    while Team.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def team_create(*, actor: User, name: str) -> Team:
    name = " ".join(name.split())
    if not name:
        raise ServiceError("Give the team a name.", field="name")
    if audit.holds_a_token(name):  # a team's name is shown to everyone in it
        audit.record(action="team.create", actor=actor, team=None, outcome=Outcome.REFUSED, target_type="team",
                     target_label=audit.masked_tokens(name)[:200], detail=audit.TOKEN_TYPED)
        raise ServiceError(audit.TOKEN_TYPED, field="name")
    with audit.atomic():
        # The person's row is the lock: two forms sent at once cannot both take the last place.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        owned = Membership.objects.filter(user=actor, role=Role.OWNER).count()
        if owned >= settings.TEAMS_PER_PERSON:
            message = (f"You already own {_count(owned, 'team')}, the most one person may own here. Delete a team "
                       "you no longer need, or make someone else its owner and leave it, then try again.")
            audit.record(action="team.create", actor=actor, team=None, outcome=Outcome.REFUSED, target_type="team",
                         target_label=name[:200], changes={"name": [None, name]}, detail=message)
            raise ServiceError(message, field="name")
        team = Team.objects.create(name=name, slug=_unique_slug(name))
        Membership.objects.create(team=team, user=actor, role=Role.OWNER)
        audit.record(action="team.create", actor=actor, team=team, role=Role.OWNER, target_type="team",
                     target_id=team.pk, target_label=team.name, changes={"name": [None, team.name]})
    return team


def team_delete(*, actor: User, team: Team, confirmation: str) -> None:
    role = role_of(actor, team)
    if confirmation.strip() != team.name:
        _refuse(actor, team, role, "team.delete", "team", team.pk, team.name,
                f"Type the team's name, {team.name}, exactly to confirm.", field="confirmation")
    if not role.at_least(Role.OWNER):
        _refuse(actor, team, role, "team.delete", "team", team.pk, team.name, "Only an owner can delete the team.")
    with audit.atomic():
        audit.record(action="team.delete", actor=actor, team=team, role=role, target_type="team",
                     target_id=team.pk, target_label=team.name,
                     detail=f"With {_count(team.servers.count(), 'server')} and "
                            f"{_count(team.memberships.count(), 'member')}.")
        team.delete()


def role_of(actor: User, team: Team) -> Role:
    membership = membership_of(user=actor, team=team)
    if membership is None:
        raise ServiceError("You are no longer a member of this team.")
    return membership.role_enum


def _refuse(actor, team, role, action, target_type, target_id, target_label, message, changes=None, *,
            field: str | None = None):
    audit.record(action=action, actor=actor, team=team, role=role, outcome=Outcome.REFUSED, target_type=target_type,
                 target_id=target_id, target_label=target_label, changes=changes, detail=message)
    raise ServiceError(message, field=field)


def _owners_left_without(team: Team, membership: Membership) -> int:
    return team.memberships.filter(role=Role.OWNER).exclude(pk=membership.pk).count()


def _still_a_member(actor: User, team: Team, membership: Membership, action: str) -> Membership:
    """The membership, locked for the change; refused (and on record) when someone removed it meanwhile."""
    try:
        return Membership.objects.select_for_update().select_related("user").get(pk=membership.pk, team=team)
    except Membership.DoesNotExist:
        user = membership.user
        _refuse(actor, team, role_of(actor, team), action, "member", user.pk, user.email,
                f"{user.get_full_name()} is no longer a member of {team.name}: someone removed them meanwhile.")


def member_set_role(*, actor: User, team: Team, membership: Membership, role: Role | str) -> Membership:
    new = Role(role)
    with audit.atomic():
        membership = _still_a_member(actor, team, membership, "member.role_change")
        old = membership.role_enum
        actor_role = role_of(actor, team)
        who = membership.user.get_full_name()
        args = (actor, team, actor_role, "member.role_change", "member", membership.user.pk, membership.user.email)
        changes = {"role": [old.label, new.label]}
        if old == new:
            _refuse(*args, f"{who} is already {_a(new)}.")
        if not actor_role.at_least(Role.ADMIN):
            _refuse(*args, "Only admins and owners can change roles.", changes)
        if not actor_role.at_least(old):
            _refuse(*args, f"{who} has more access than you ({old.label}), so you cannot change their role.",
                    changes)
        if not actor_role.at_least(new):
            _refuse(*args, f"You cannot make someone {_a(new)}: that is more access than your own role "
                    f"({actor_role.label}).", changes)
        if old == Role.OWNER and _owners_left_without(team, membership) == 0:
            _refuse(*args, f"{who} is the only owner of {team.name}. Make someone else an owner first, "
                    "so the team always has one.", changes)
        membership.role = new
        membership.save(update_fields=["role"])
        audit.record(action="member.role_change", actor=actor, team=team, role=actor_role, target_type="member",
                     target_id=membership.user.pk, target_label=membership.user.email, changes=changes)
    return membership


def member_remove(*, actor: User, team: Team, membership: Membership) -> None:
    with audit.atomic():
        membership = _still_a_member(actor, team, membership, "member.remove")
        actor_role = role_of(actor, team)
        if membership.user_id == actor.pk:
            _refuse(actor, team, actor_role, "member.remove", "member", actor.pk, actor.email,
                    "To take yourself out of the team, use “Leave team”.")
        target = membership.role_enum
        who = membership.user.get_full_name()
        args = (actor, team, actor_role, "member.remove", "member", membership.user.pk, membership.user.email)
        changes = {"role": [target.label, None]}
        if not actor_role.at_least(Role.ADMIN):
            _refuse(*args, "Only admins and owners can remove members.", changes)
        if not actor_role.at_least(target):
            _refuse(*args, f"{who} has more access than you ({target.label}), so you cannot remove them.", changes)
        if target == Role.OWNER and _owners_left_without(team, membership) == 0:
            _refuse(*args, f"{who} is the only owner of {team.name}; a team always keeps one owner.", changes)
        membership.delete()
        audit.record(action="member.remove", actor=actor, team=team, role=actor_role, target_type="member",
                     target_id=membership.user.pk, target_label=membership.user.email, changes=changes)


def member_leave(*, actor: User, team: Team) -> None:
    with audit.atomic():
        membership = Membership.objects.select_for_update().filter(team=team, user=actor).first()
        if membership is None:  # removed by an admin since the page was sent
            _refuse(actor, team, None, "member.leave", "member", actor.pk, actor.email,
                    "You are not a member of this team.")
        role = membership.role_enum
        if role == Role.OWNER and _owners_left_without(team, membership) == 0:
            _refuse(actor, team, role, "member.leave", "member", actor.pk, actor.email,
                    f"You are the only owner of {team.name}. Make someone else an owner first, or delete the team.",
                    {"role": [role.label, None]})
        membership.delete()
        audit.record(action="member.leave", actor=actor, team=team, role=role, target_type="member",
                     target_id=actor.pk, target_label=actor.email, changes={"role": [role.label, None]})


def access_record_denial(*, actor: User, team: Team, role: Role | str, needed: Role | str, path: str,
                         action: str = "access.denied") -> None:
    """A member asked for something their role does not allow; `action` names the attempt when it is one."""
    # The log names the page as people know it ("New stream on Acme Production"); the target id keeps the path.
    label = page_name(path, team=team)
    audit.record(action=action, actor=actor, team=team, role=role, outcome=Outcome.DENIED,
                 target_type="page", target_id=path[:100], target_label=label,
                 detail=f"Needs the {Role(needed).label} role or higher.")


def access_record_nothing_there(*, actor: User, team: Team, role: Role | str, path: str, action: str) -> None:
    """A member's change named something the team does not have; they were answered "not found"."""
    refusal_record(actor=actor, team=team, role=role, action=action, target_type="page", target_id=path[:100],
                   target_label=page_name(path, team=team),
                   detail=f"Nothing in {team.name} has this address: a made-up number, another team's, or one "
                          "removed meanwhile. Nothing was changed.")


def access_record_outsider(*, actor: User, team_slug: str, path: str) -> None:
    """A signed-in person asked for a team's page without being its member. The entry goes in that team's log
    when the team exists (its admins see who tried), else only in the person's own trail, so a made-up team
    leaves nothing in anyone else's log. The person is told nothing either way (404)."""
    team = Team.objects.filter(slug=team_slug).first()
    audit.record(action="access.denied", actor=actor, team=team, outcome=Outcome.DENIED,
                 target_type="page", target_id=path[:100],
                 target_label=page_name(path, team=team) if team else masked_path(path),
                 detail="Not a member of this team.")


def access_record_csrf_failure(*, actor: User, team: Team | None, role: Role | str | None, path: str) -> None:
    """A signed-in person's form was refused by the CSRF check: stale, or sent from another site."""
    audit.record(action="access.csrf", actor=actor, team=team, role=role, outcome=Outcome.DENIED,
                 target_type="page", target_id=path[:100], target_label=masked_path(path),
                 detail="The form was open too long or came from another site.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _a(role: Role) -> str:
    return f"an {role.label.lower()}" if role.label[0] in "AEIOU" else f"a {role.label.lower()}"
