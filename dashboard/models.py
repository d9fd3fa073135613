"""The core records: people, teams and their members, invitations, Postmark servers, the audit log.

Streams are not stored: Postmark is their source of truth.
"""

import uuid

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields.get("is_staff") is not True or extra_fields.get("is_superuser") is not True:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        # Addresses are stored lowercased, so "Dana@Example.com" signs in as dana@example.com.
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractBaseUser, PermissionsMixin):
    """Someone who signs in with an e-mail address and a password."""

    email = models.EmailField("e-mail address", unique=True)
    name = models.CharField("name", max_length=150, blank=True)
    is_staff = models.BooleanField(
        "staff status", default=False, help_text="Can sign in to the Django admin site."
    )
    is_active = models.BooleanField("active", default=True)
    date_joined = models.DateTimeField("date joined", default=timezone.now)
    # An IANA name such as "Europe/Berlin"; blank means "the browser's zone, else UTC".
    time_zone = models.CharField("time zone", max_length=64, blank=True)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name or self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email


class Role(models.TextChoices):
    """What a member may do in a team; each role can do everything the roles before it can."""

    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    @property
    def description(self) -> str:
        return ROLE_DESCRIPTIONS[self]

    def at_least(self, other: "Role | str") -> bool:
        return self.rank >= Role(other).rank

    @classmethod
    def up_to(cls, highest: "Role | str") -> list["Role"]:
        """The roles someone with `highest` may hand out: their own and those below it."""
        return [role for role in cls if role.rank <= Role(highest).rank]


ROLE_DESCRIPTIONS = {
    Role.VIEWER: "Sees the team's servers and streams.",
    Role.EDITOR: "Also creates, edits, archives and restores streams.",
    Role.ADMIN: "Also connects servers, replaces tokens, manages members and reads the audit log.",
    Role.OWNER: "Also manages owners and can delete the team.",
}


class Team(models.Model):
    """A group of people who share Postmark servers."""

    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) in {self.team}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class Invitation(models.Model):
    """An offer to join a team. The link's token is never stored, only its SHA-256 digest."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for an answer"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "created_at"], name="invitation_team_created")]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.team}"

    @property
    def status(self) -> "Invitation.Status":
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class Server(models.Model):
    """A Postmark server the team connected. Its token is stored encrypted and is never shown again.

    Only `dashboard.services.servers.postmark_client_for` decrypts `token_ciphertext`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="servers")
    name = models.CharField(max_length=80)
    postmark_server_id = models.BigIntegerField(null=True, blank=True)
    # Demo and test servers live in the in-process sandbox instead of Postmark.
    is_sandbox = models.BooleanField(default=False)
    token_ciphertext = models.TextField()
    token_key_id = models.CharField(max_length=32, db_index=True)
    token_fingerprint = models.CharField(max_length=64)
    token_last4 = models.CharField(max_length=4)
    token_checked_at = models.DateTimeField(null=True, blank=True)
    # Set when Postmark refuses the stored token (401/10) on any call; cleared when a token works again.
    token_rejected_at = models.DateTimeField(null=True, blank=True)
    # Postmark's usual limit per server; Postmark support can raise it, so it is a hint an admin can change.
    stream_limit = models.PositiveSmallIntegerField(default=10)
    connected_at = models.DateTimeField(default=timezone.now)
    connected_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["team", "token_fingerprint"], name="server_team_fingerprint")]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_token(self) -> str:
        return f"••••{self.token_last4}"


class AuditEventQuerySet(models.QuerySet):
    """Entries are written once and never changed: the update and delete paths refuse."""

    def update(self, **kwargs):
        raise TypeError("Audit events are append-only; they cannot be updated.")

    def delete(self):
        raise TypeError("Audit events are append-only; they cannot be deleted.")

    def for_team(self, team: "Team") -> "AuditEventQuerySet":
        return self.filter(team_id=team.pk)


class AuditEvent(models.Model):
    """One thing someone did, or tried to do. Written only by `dashboard.audit.record`.

    No foreign keys: the team and actor are kept as ids plus labels, so an entry outlives both.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Succeeded"
        REFUSED = "refused", "Refused"
        FAILED = "failed", "Failed"
        DENIED = "denied", "Denied"

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    team_id = models.BigIntegerField(null=True, blank=True)
    team_label = models.CharField(max_length=80, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    actor_role = models.CharField(max_length=10, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)  # our own, never the client's
    forwarded_request_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    detail = models.TextField(blank=True)
    # Tamper evidence (see `dashboard.audit`): each team's entries form a hash chain, numbered 1, 2, 3...
    chain_seq = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # What the log's filters look entries up by, derived from the target by `audit.filter_columns` (not hashed).
    server_id = models.CharField(max_length=100, blank=True, default="", db_default="")
    stream_id = models.CharField(max_length=100, blank=True, default="", db_default="")
    account_id = models.BigIntegerField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        # One per filter of the log, in its order: the team (NULL for personal entries), what is filtered on, then
        # newest first, so a page reads its 50 rows off one index range, with no sort and no other rows.
        indexes = [
            models.Index(fields=["team_id", "-occurred_at", "-id"], name="audit_team_time"),
            models.Index(fields=["team_id", "actor_id", "-occurred_at", "-id"], name="audit_team_actor_time"),
            models.Index(fields=["team_id", "action", "-occurred_at", "-id"], name="audit_team_action_time"),
            models.Index(fields=["team_id", "outcome", "-occurred_at", "-id"], name="audit_team_outcome_time"),
            models.Index(fields=["team_id", "server_id", "-occurred_at", "-id"], name="audit_team_server_time"),
            models.Index(fields=["team_id", "stream_id", "-occurred_at", "-id"], name="audit_team_stream_time"),
            # Personal entries have no team, and `team_id IS NULL` is no equality that keeps an index's order.
            models.Index(fields=["account_id", "-occurred_at", "-id"], condition=models.Q(team_id__isnull=True),
                         name="audit_personal_account_time"),
            models.Index(fields=["account_id", "outcome", "-occurred_at", "-id"],
                         condition=models.Q(team_id__isnull=True), name="audit_personal_outcome_time"),
        ]
        constraints = [
            # Two writers can never give the same number in a team's chain (entries without a team rely on the
            # chain head's lock alone: NULLs are distinct in a unique constraint).
            models.UniqueConstraint(fields=["team_id", "chain_seq"], name="audit_chain_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action} ({self.outcome})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Audit events are append-only; an entry cannot be changed once written.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only; an entry cannot be deleted.")


class AuditChainHead(models.Model):
    """Where each team's audit chain ends: its last number and hash. The row is locked while an entry is
    appended, so two app instances writing for the same team at once cannot fork the chain.

    `team_key` is the team's id, or 0 for the entries that belong to no team (sign-ins, system jobs).
    """

    team_key = models.BigIntegerField(unique=True)
    seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"Audit chain {self.team_key or 'without a team'} at entry {self.seq}"
