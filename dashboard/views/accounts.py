"""Password change and reset: Django's views, with the change written to the audit log."""

from django.contrib.auth import views as auth_views

from dashboard.access import not_team_scoped
from dashboard.services.accounts import account_record_password_change


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        response = super().form_valid(form)
        account_record_password_change(actor=form.user, by_reset_link=False)
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        account_record_password_change(actor=form.user, by_reset_link=True)
        return response


password_change = not_team_scoped(PasswordChangeView.as_view())
password_reset_confirm = not_team_scoped(PasswordResetConfirmView.as_view())
