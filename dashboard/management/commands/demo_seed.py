"""`manage.py demo_seed`: the demo's people, teams, sandbox servers and streams (demo and development only).

Everything is made through the services, inside one audit context (request id `demo-seed`), so the
audit log shows how each team, member and server came to be; every server lives in the in-process
Postmark sandbox, never in Postmark. A team is made whole, with its people and servers, only when it
does not exist yet, so a second run changes nothing and what someone changed in the demo stays
changed. If the sandbox's state file lost a connected server, its token is registered there again.

It must never run in production: the accounts it makes share a known password.
"""

import contextlib
import hashlib
import hmac
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import pluralize
from django.test.utils import override_settings
from django.urls import reverse

from dashboard import audit, token_crypto
from dashboard.management.demo_recipients import seed_recipients
from dashboard.models import Membership, Role, Server, Team, User
from dashboard.postmark import sandbox
from dashboard.postmark.client import StreamType, UnsubscribeHandling
from dashboard.services.invitations import invitation_accept, invitation_create
from dashboard.services.servers import postmark_client_for, server_connect
from dashboard.services.teams import team_create

DEMO_URL = "http://127.0.0.1:8000"
DEMO_PASSWORD = "streams-demo"
SPARE_SERVER_NAME = "Acme Marketing"
# Postmark's rule: Broadcasts streams need unsubscribe handling, Transactional streams have none.
HANDLING = {StreamType.TRANSACTIONAL: UnsubscribeHandling.NONE, StreamType.BROADCASTS: UnsubscribeHandling.POSTMARK}


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: Role


@dataclass(frozen=True)
class DemoStream:
    id: str
    name: str
    stream_type: StreamType
    description: str
    archived_days_ago: float | None = None  # None: not archived


@dataclass(frozen=True)
class DemoServer:
    name: str
    streams: tuple[DemoStream, ...]


@dataclass(frozen=True)
class DemoTeam:
    name: str
    owner: Person
    members: tuple[Person, ...]
    servers: tuple[DemoServer, ...]


T, B = StreamType.TRANSACTIONAL, StreamType.BROADCASTS
TEAMS = (
    DemoTeam(
        name="Acme",
        owner=Person("owner@example.com", "Olivia Owner", Role.OWNER),
        members=(
            Person("admin@example.com", "Adam Admin", Role.ADMIN),
            Person("editor@example.com", "Edith Editor", Role.EDITOR),
            Person("viewer@example.com", "Victor Viewer", Role.VIEWER),
        ),
        servers=(
            DemoServer("Acme Production", (
                DemoStream("billing-receipts", "Billing receipts", T, "Receipts and invoices after each payment."),
                DemoStream("password-resets", "Password resets", T, "Password reset and sign-in link e-mails."),
                DemoStream("product-news", "Product news", B, "Monthly product announcements to customers."),
                DemoStream("weekly-digest", "Weekly digest", B, "The Friday round-up of account activity."),
                # 40 days ago: purged in 5 days. 10 days ago: purged in 35 days.
                DemoStream("spring-sale", "Spring sale", B, "Last spring's promotion; no longer sent.",
                           archived_days_ago=40),
                DemoStream("legacy-alerts", "Legacy alerts", T, "Alerts from the old monitoring system.",
                           archived_days_ago=10),
            )),
            DemoServer("Acme Staging", (
                DemoStream("qa-receipts", "QA receipts", T, "Test receipts sent by the staging shop."),
                DemoStream("newsletter-preview", "Newsletter preview", B, "Newsletters checked before they go out."),
            )),
        ),
    ),
    DemoTeam(
        name="Globex",
        owner=Person("globex@example.com", "Gina Globex", Role.OWNER),
        members=(),
        servers=(
            DemoServer("Globex Main", (
                DemoStream("order-confirmations", "Order confirmations", T, "Sent when a customer places an order."),
                DemoStream("customer-newsletter", "Customer newsletter", B, "Globex news for customers."),
            )),
        ),
    ),
)
DEMO_SERVERS = {(team.name, server.name): server for team in TEAMS for server in team.servers}


def spare_token() -> str:
    """A sandbox token for trying "Connect a server", shaped like Postmark's.

    Derived from SECRET_KEY, so each run of one demo prints and registers the same token (the sandbox
    keeps only digests, and an unconnected token is stored nowhere else), yet no two demos share it.
    """
    digest = hmac.new(settings.SECRET_KEY.encode(), b"demo-seed spare sandbox server", hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _invitation_link(token: str) -> str:
    return DEMO_URL + reverse("invitation_accept", args=[token])


class Command(BaseCommand):
    help = "Make the demo's teams, people and sandbox servers (development only) and print how to sign in."

    def handle(self, *args, **options):
        # Known passwords are fine on a laptop and a hole anywhere else.
        if not (settings.DEMO or settings.DEBUG):
            raise CommandError("demo_seed only runs with DEMO or DEBUG on; it makes accounts with a known password.")
        if not settings.POSTMARK_SANDBOX_ENABLED:
            raise CommandError("demo_seed needs the built-in Postmark sandbox, but POSTMARK_SANDBOX_ENABLED is off.")
        self.done: list[str] = []
        self.people_found: list[str] = []  # existed before this run, so their password may have changed
        # The demo's people accept their invitations at once; the invitation e-mails would only fill the console.
        with audit.context(request_id="demo-seed"), _quiet_info_logs(), \
                override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            teams = [self.seed_team(demo) for demo in TEAMS]
            self.restore_lost_sandbox_servers()
            spare = self.register_spare_server()
        self.report(teams, spare)

    # Making things ----------------------------------------------------------------------------------

    def seed_team(self, demo: DemoTeam) -> Team:
        owner = self.person(demo.owner)
        team = Team.objects.filter(name=demo.name, memberships__user=owner, memberships__role=Role.OWNER).first()
        if team is not None:
            return team
        with transaction.atomic():  # a team is made whole or not at all
            team = team_create(actor=owner, name=demo.name)
            for person in demo.members:
                self.join(team, owner, self.person(person), person.role)
            for server in demo.servers:
                self.connect(team, owner, server)
        people, servers = len(demo.members) + 1, len(demo.servers)
        self.done.append(f"Made the team {team.name} with {people} {'person' if people == 1 else 'people'} "
                         f"and {servers} sandbox server{pluralize(servers)}.")
        return team

    def person(self, person: Person) -> User:
        user = User.objects.filter(email__iexact=person.email).first()
        if user is None:
            return User.objects.create_user(email=person.email, password=DEMO_PASSWORD, name=person.name)
        self.people_found.append(user.email)
        return user

    def join(self, team: Team, owner: User, user: User, role: Role) -> None:
        """As a person joins: invited by the owner, then accepting."""
        invitation = invitation_create(actor=owner, team=team, email=user.email, role=role, link_for=_invitation_link)
        invitation_accept(actor=user, invitation=invitation)

    def connect(self, team: Team, owner: User, demo: DemoServer) -> None:
        token = str(uuid.uuid4())  # shaped like a Postmark token, known only to the sandbox and the database
        sandbox.current().add_server(token, name=demo.name, traffic=True)  # pictures of statistics to show
        server = server_connect(actor=owner, team=team, name=demo.name, token=token, sandbox=True)
        self.add_streams(server, token, demo.streams)
        seed_recipients(sandbox.current(), token, demo.name)  # suppressions and bounces, on Acme's servers only

    def add_streams(self, server: Server, token: str, streams: tuple[DemoStream, ...]) -> None:
        client = postmark_client_for(server)
        for stream in streams:
            client.create_stream(id=stream.id, name=stream.name, stream_type=stream.stream_type,
                                 description=stream.description, unsubscribe_handling=HANDLING[stream.stream_type])
            if stream.archived_days_ago is not None:
                client.archive_stream(stream.id)
                sandbox.current().backdate_archive(token, stream.id, days=stream.archived_days_ago)

    def restore_lost_sandbox_servers(self) -> None:
        """Register again every connected sandbox server the sandbox's state no longer has."""
        local = sandbox.current()
        for server in Server.objects.filter(is_sandbox=True).select_related("team").order_by("connected_at", "pk"):
            try:
                # The sandbox keeps only digests of tokens, so the stored token is what can register it again.
                token = token_crypto.decrypt_token(server.token_ciphertext, team_id=server.team_id,
                                                   server_id=server.pk)
            except token_crypto.TokenUnreadable:
                self.stderr.write(f"{server.team.name} / {server.name}: its token cannot be decrypted with "
                                  "TOKEN_ENCRYPTION_KEYS, so it is left as it is; re-enter it on the server's page.")
                continue
            if local.has_server(token):
                continue
            demo = DEMO_SERVERS.get((server.team.name, server.name))
            local.add_server(token, name=server.name, traffic=demo is not None)
            if demo is not None:
                self.add_streams(server, token, demo.streams)
            self.done.append(f"Registered {server.team.name} / {server.name} in the sandbox again "
                             "(its state file had lost it).")

    def register_spare_server(self) -> str:
        token = spare_token()
        if not sandbox.current().has_server(token):
            sandbox.current().add_server(token, name=SPARE_SERVER_NAME)
            self.done.append(f"Added the sandbox server {SPARE_SERVER_NAME}, not connected to any team.")
        return token

    # Saying so --------------------------------------------------------------------------------------

    def report(self, teams: list[Team], spare: str) -> None:
        write = self.stdout.write
        if self.done:
            for line in self.done:
                write(line)
        else:
            write("Nothing changed: the demo's teams, people and servers were already there.")
        write("")
        write(f"Open {DEMO_URL} and sign in as any of these people, all with the password {DEMO_PASSWORD}"
              + (" (unless you changed it)" if self.people_found else "") + ":")
        order = [person.email for demo in TEAMS for person in (demo.owner, *demo.members)]
        memberships = Membership.objects.filter(team__in=teams, user__email__in=order).select_related("user", "team")
        for membership in sorted(memberships, key=lambda m: order.index(m.user.email)):
            write(f"  {membership.user.email:<22} {membership.get_role_display()} of {membership.team.name}")
        write("These accounts exist only in this demo's database.")
        write("")
        connected = Server.objects.filter(_token_matches(spare)).select_related("team").first()
        if connected is not None:
            write(f"The spare sandbox server is connected to {connected.team.name} as “{connected.name}”.")
            return
        write("To try “Connect a server”: sign in as owner@example.com or admin@example.com, open Acme, choose")
        write(f"“Connect a server”, call it “{SPARE_SERVER_NAME}”, tick the sandbox box and paste this sandbox token:")
        write(f"  {spare}")
        write("It is a made-up token that only the built-in sandbox knows; Postmark would not accept it.")


@contextlib.contextmanager
def _quiet_info_logs() -> Iterator[None]:
    """The seed's own report says what it did; a line per Postmark call would bury the sign-in."""
    logger = logging.getLogger("dashboard")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _token_matches(token: str) -> Q:
    matches = Q()
    for key_id, print_ in token_crypto.fingerprints(token).items():
        matches |= Q(token_key_id=key_id, token_fingerprint=print_)
    return matches
