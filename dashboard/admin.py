from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.contrib.auth.forms import UserCreationForm as BaseUserCreationForm

from dashboard.models import AuditEvent, Membership, Server, Team, User


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeForm(BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For operators to look, not to change: teams, servers and the audit log change through the dashboard,
    whose services check roles and write the audit log."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ("user", "role", "joined_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Server)
class ServerAdmin(ReadOnlyAdmin):
    # Never the ciphertext or the fingerprint: the admin shows what the dashboard's pages show.
    fields = ("name", "team", "postmark_server_id", "is_sandbox", "masked_token", "token_key_id", "token_checked_at",
              "connected_at", "connected_by")
    readonly_fields = fields
    list_display = ("name", "team", "postmark_server_id", "masked_token", "token_key_id")
    list_filter = ("token_key_id", "is_sandbox")
    search_fields = ("name", "team__name")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "team_label", "actor_label", "action", "target_label", "outcome")
    list_filter = ("outcome", "action")
    search_fields = ("actor_label", "team_label", "target_label", "target_id", "request_id")
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
