"""Members and invitations: the members page, inviting, changing roles, removing, revoking, accepting."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.access import not_team_scoped, team_required
from dashboard.forms import (
    InviteForm,
    NewAccountForm,
    RoleForm,
    apply_service_error,
    record_refusal,
    record_request_refusal,
)
from dashboard.middleware import client_ip
from dashboard.models import Invitation, Membership, Role, User
from dashboard.services import ServiceError
from dashboard.services.accounts import account_count_broken_link, account_links_refused
from dashboard.services.invitations import (
    invitation_accept,
    invitation_accept_as_new_person,
    invitation_create,
    invitation_for_token,
    invitation_revoke,
)
from dashboard.services.teams import member_remove, member_set_role
from dashboard.services.two_factor import two_factor_users
from dashboard.views.accounts import links_refused_message


def _members_page(request: HttpRequest, *, invite_form: InviteForm | None = None) -> HttpResponse:
    my_role = request.membership.role_enum
    can_manage = my_role.at_least(Role.ADMIN)
    memberships = list(request.team.memberships.select_related("user").order_by("user__email"))
    for membership in memberships:
        is_me = membership.user_id == request.user.pk
        membership.manageable = can_manage and my_role.at_least(membership.role) and not is_me
    # Owners see who signs in with two factors (one query for the whole team).
    show_two_factor = my_role == Role.OWNER
    if show_two_factor:
        with_two_factor = two_factor_users(user_ids=[membership.user_id for membership in memberships])
        for membership in memberships:
            membership.two_factor = membership.user_id in with_two_factor
    invitations = list(request.team.invitations.select_related("invited_by", "accepted_by")[:50]) if can_manage else []
    for invitation in invitations:
        invitation.revocable = invitation.is_pending and my_role.at_least(invitation.role)
    context = {
        "memberships": memberships,
        "invitations": invitations,
        "can_manage": can_manage,
        "show_two_factor": show_two_factor,
        "invite_form": invite_form or InviteForm(highest_role=my_role),
        "roles": list(Role),
        # One <select> per row is written out in the template: a form per member costs ~0.5 ms each.
        "grantable_roles": Role.up_to(my_role),
    }
    template = "dashboard/members.html#members-body" if request.htmx else "dashboard/members.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


def _done(request: HttpRequest) -> HttpResponse:
    """After a change: the refreshed members region for htmx, a redirect to the page otherwise."""
    if request.htmx:
        return _members_page(request)
    return redirect("member_list", team_slug=request.team.slug)


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def member_list(request: HttpRequest) -> HttpResponse:
    return _members_page(request)


@team_required(role=Role.ADMIN)
@require_POST
def member_invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST, highest_role=request.membership.role_enum)
    if form.is_valid():
        try:
            invitation = invitation_create(
                actor=request.user, team=request.team, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                link_for=lambda token: request.build_absolute_uri(reverse("invitation_accept", args=[token])),
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email} as {invitation.get_role_display()}. "
                                      "The link works for 7 days.")
            return _done(request)
    else:
        record_refusal(request, form, action="member.invite", target_type="invitation")
    return _members_page(request, invite_form=form)


@team_required(role=Role.ADMIN, action="member.role_change")
@require_POST
def member_role(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=member_id, team=request.team)
    form = RoleForm(request.POST, highest_role=request.membership.role_enum)
    if not form.is_valid():
        record_refusal(request, form, action="member.role_change", target_type="member", target_id=membership.user.pk,
                       target_label=membership.user.email)
        messages.error(request, "Choose one of the roles listed; you can give a role up to your own.")
        return _done(request)
    try:
        member_set_role(actor=request.user, team=request.team, membership=membership, role=form.cleaned_data["role"])
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        if membership.user_id == request.user.pk:  # your own new role decides what the refreshed page offers
            request.membership.refresh_from_db(fields=["role"])
        messages.success(request, f"{membership.user.get_full_name()} is now {Role(form.cleaned_data['role']).label}.")
    return _done(request)


@team_required(role=Role.ADMIN, action="member.remove")
@require_http_methods(["GET", "POST"])
def member_remove_view(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=member_id, team=request.team)
    if request.method == "POST":
        try:
            member_remove(actor=request.user, team=request.team, membership=membership)
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{membership.user.get_full_name()} no longer has access to {request.team.name}.")
        return redirect("member_list", team_slug=request.team.slug)
    return render(request, "dashboard/member_remove.html", {"member": membership})


@team_required(role=Role.ADMIN, action="invitation.revoke")
@require_POST
def invitation_revoke_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id, team=request.team)
    try:
        invitation_revoke(actor=request.user, team=request.team, invitation=invitation)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The invitation for {invitation.email} was revoked; its link no longer works.")
    return _done(request)


@not_team_scoped
@login_not_required
@require_http_methods(["GET", "POST"])
def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation link opens. Who may accept: the invited address, signed in or new."""
    address = client_ip(request)
    if account_links_refused(address=address):
        return render(request, "dashboard/invitation.html",
                      {"state": "links_refused", "links_refused": links_refused_message()}, status=429)
    invitation = invitation_for_token(token)
    if invitation is None:
        account_count_broken_link(address=address, action="invitation.accept")
        if request.method == "POST":  # never the link itself: it is as good as a password while it works
            record_request_refusal(request, action="invitation.accept", target_type="invitation",
                                   detail="No invitation has this link: mistyped, made up, or from another site.")
        return render(request, "dashboard/invitation.html", {"state": "unknown"}, status=404)
    user = request.user
    has_account = not user.is_authenticated and User.objects.filter(email__iexact=invitation.email).exists()
    form = NewAccountForm(request.POST or None) if not user.is_authenticated and not has_account else None
    error = None
    ready = user.is_authenticated or (form is not None and form.is_valid())
    if request.method == "POST" and form is not None and not ready:
        record_refusal(request, form, action="invitation.accept", team=invitation.team, role=invitation.role,
                       actor_label=invitation.email, target_type="invitation", target_id=invitation.pk,
                       target_label=invitation.email)
    # A used, revoked or expired invitation still goes to the service, so the refused attempt is audited.
    if request.method == "POST" and ready:
        try:
            if user.is_authenticated:
                invitation_accept(actor=user, invitation=invitation)
            else:
                membership = invitation_accept_as_new_person(
                    invitation=invitation, name=form.cleaned_data["name"], password=form.cleaned_data["password1"])
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        except ServiceError as refusal:
            error = refusal.message
            if form is not None:
                apply_service_error(form, refusal)
                error = None
        else:
            messages.success(request, f"Welcome to {invitation.team.name}! "
                                      f"You joined as {invitation.get_role_display()}.")
            return redirect("team_home", team_slug=invitation.team.slug)
    state = invitation.status.value if not invitation.is_pending else (
        "signed_in" if user.is_authenticated else ("sign_in" if has_account else "new_account"))
    wrong_person = user.is_authenticated and user.email.lower() != invitation.email.lower()
    return render(request, "dashboard/invitation.html", {
        "state": state, "invitation": invitation, "form": form, "error": error, "wrong_person": wrong_person,
        "login_url": f"{reverse('login')}?next={request.path}",
    })

