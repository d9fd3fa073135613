from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard.forms import SignInForm
from dashboard.views import accounts, audit_log, core, members, servers, teams, two_factor

team_urls = [
    # The team's home is its streams overview; this root URLconf wires the streams app in by name only.
    path("", include("streams.urls")),
    path("leave/", teams.team_leave, name="team_leave"),
    path("delete/", teams.team_delete_view, name="team_delete"),
    path("members/", members.member_list, name="member_list"),
    path("members/invite/", members.member_invite, name="member_invite"),
    path("members/<int:member_id>/role/", members.member_role, name="member_role"),
    path("members/<int:member_id>/remove/", members.member_remove_view, name="member_remove"),
    path("invitations/<int:invitation_id>/revoke/", members.invitation_revoke_view, name="invitation_revoke"),
    path("servers/connect/", servers.server_connect_view, name="server_connect"),
    path("servers/<uuid:server_id>/", servers.server_detail, name="server_detail"),
    path("servers/<uuid:server_id>/rename/", servers.server_rename_view, name="server_rename"),
    path("servers/<uuid:server_id>/token/", servers.server_token_view, name="server_token"),
    path("servers/<uuid:server_id>/stream-limit/", servers.server_stream_limit_view, name="server_stream_limit"),
    path("servers/<uuid:server_id>/remove/", servers.server_remove_view, name="server_remove"),
    path("audit/", audit_log.audit_log, name="audit_log"),
    path("audit/export.csv", audit_log.audit_export_csv, name="audit_export_csv"),
    path("audit/export.jsonl", audit_log.audit_export_jsonl, name="audit_export_jsonl"),
    # Purge reminders, wired in by name only, like the streams app.
    path("reminders/", include("reminders.urls")),
]

account_urls = [
    path("login/", auth_views.LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("preferences/", accounts.preferences, name="preferences"),
    path("password/", accounts.password_change, name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", accounts.password_reset, name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", accounts.password_reset_confirm, name="password_reset_confirm"),
    path("password/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("reminders/", include("reminders.account_urls")),  # purge reminders on or off, per team
    # Two-factor sign-in: set-up, the code after the password, recovery codes, turning it off.
    path("two-factor/", two_factor.two_factor, name="two_factor"),
    path("two-factor/confirm/", two_factor.two_factor_confirm_view, name="two_factor_confirm"),
    path("two-factor/code/", two_factor.two_factor_code, name="two_factor_code"),
    path("two-factor/recovery-codes/", two_factor.two_factor_recovery_codes_view, name="two_factor_recovery_codes"),
    path("two-factor/turn-off/", two_factor.two_factor_turn_off_view, name="two_factor_turn_off"),
]

urlpatterns = [
    path("", core.home, name="home"),
    path("healthz", core.healthz, name="healthz"),
    path("teams/", teams.team_list, name="team_list"),
    path("t/<slug:team_slug>/", include(team_urls)),
    path("invitations/<str:token>/", members.invitation_accept_view, name="invitation_accept"),
    path("accounts/", include(account_urls)),
    path(settings.ADMIN_PATH, admin.site.urls),  # checked at startup (dashboard/settings.py)
]
