"""`manage.py demo_seed`: the demo's teams, people, sandbox servers and streams, made once, never in production."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from dashboard.management.commands.demo_seed import DEMO_PASSWORD, spare_token
from dashboard.models import AuditEvent, Invitation, Membership, Server, Team, User
from dashboard.postmark.client import StreamType, UnsubscribeHandling
from dashboard.postmark.client_stats import postmark_today
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import postmark_client_for, server_connect, server_remove
from dashboard.token_crypto import decrypt_token

pytestmark = pytest.mark.django_db

DEFAULT_STREAMS = {"outbound", "inbound", "broadcast"}
PEOPLE = {
    "owner@example.com": ("Acme", "owner"),
    "admin@example.com": ("Acme", "admin"),
    "editor@example.com": ("Acme", "editor"),
    "viewer@example.com": ("Acme", "viewer"),
    "globex@example.com": ("Globex", "owner"),
}


@pytest.fixture(autouse=True)
def demo_mode(settings, sandbox):
    """As `make demo` runs it: DEMO on, the sandbox fresh for each test."""
    settings.DEMO = True
    settings.DEBUG = False
    # Five accounts per run: a fast hasher keeps the suite quick; check_password works the same.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return sandbox


def seed() -> str:
    out = io.StringIO()
    call_command("demo_seed", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def server(team: str, name: str) -> Server:
    return Server.objects.get(team__name=team, name=name)


def raw_token(found: Server) -> str:
    return decrypt_token(found.token_ciphertext, team_id=found.team_id, server_id=found.pk)


def streams_of(found: Server) -> dict:
    return {stream.id: stream for stream in postmark_client_for(found).list_streams(include_archived=True)}


def everything_stored() -> dict:
    return {
        "users": sorted(User.objects.values_list("email", "password")),
        "members": sorted(Membership.objects.values_list("team__name", "user__email", "role")),
        "invitations": Invitation.objects.count(),
        "servers": sorted(Server.objects.values_list("team__name", "name", "token_ciphertext")),
        "audit events": AuditEvent.objects.count(),
        "streams": {found.name: sorted(streams_of(found)) for found in Server.objects.all()},
    }


def test_acme_has_its_four_people_in_their_roles_with_the_shared_password():
    seed()

    acme = Team.objects.get(name="Acme")
    assert dict(acme.memberships.values_list("user__email", "role")) == {
        email: role for email, (team, role) in PEOPLE.items() if team == "Acme"
    }
    assert User.objects.get(email="owner@example.com").name == "Olivia Owner"
    for email in PEOPLE:
        assert User.objects.get(email=email).check_password(DEMO_PASSWORD), email


def test_globex_has_its_own_owner_and_server_and_none_of_acmes():
    seed()

    globex = Team.objects.get(name="Globex")
    assert list(globex.memberships.values_list("user__email", "role")) == [("globex@example.com", "owner")]
    assert list(globex.servers.values_list("name", flat=True)) == ["Globex Main"]
    assert not Membership.objects.filter(team__name="Acme", user__email="globex@example.com").exists()
    assert "order-confirmations" in streams_of(server("Globex", "Globex Main"))


def test_acmes_two_servers_keep_their_tokens_encrypted_and_reach_the_sandbox(sandbox):
    seed()

    acme = Team.objects.get(name="Acme")
    assert sorted(acme.servers.values_list("name", flat=True)) == ["Acme Production", "Acme Staging"]
    for found in acme.servers.all():
        token = raw_token(found)
        assert token not in found.token_ciphertext
        assert found.is_sandbox and found.token_last4 == token[-4:]
        assert sandbox.has_server(token)
        assert set(streams_of(found)) >= DEFAULT_STREAMS
        assert {stream.server_id for stream in streams_of(found).values()} == {found.postmark_server_id}


def test_the_demos_servers_have_statistics_to_show_and_the_spare_server_has_none(sandbox):
    seed()
    today = postmark_today(sandbox.now())
    week = {"since": today - timedelta(days=6), "until": today}

    production = postmark_client_for(server("Acme", "Acme Production"))
    spare = postmark_client_for(server_connect(actor=User.objects.get(email="owner@example.com"),
                                               team=Team.objects.get(name="Acme"), name="Spare",
                                               token=spare_token(), sandbox=True))

    assert all(day.sent > 0 for day in production.sends_per_day(stream_id="outbound", **week).days)
    assert spare.outbound_overview(**week).sent == 0


def test_acme_production_has_two_archived_streams_purged_on_different_days(sandbox):
    seed()

    streams = streams_of(server("Acme", "Acme Production"))
    archived = {stream_id: stream for stream_id, stream in streams.items() if stream.is_archived}
    days_left = {stream_id: round((stream.expected_purge_date - sandbox.now()) / timedelta(days=1))
                 for stream_id, stream in archived.items()}
    assert days_left == {"spring-sale": 5, "legacy-alerts": 35}


def test_every_seeded_server_has_extra_transactional_and_broadcasts_streams_with_postmarks_handling():
    seed()

    for found in Server.objects.all():
        extra = [stream for stream_id, stream in streams_of(found).items() if stream_id not in DEFAULT_STREAMS]
        assert {stream.stream_type for stream in extra} == {StreamType.TRANSACTIONAL, StreamType.BROADCASTS}, found
        for stream in extra:
            broadcasts = stream.stream_type == StreamType.BROADCASTS
            expected = UnsubscribeHandling.POSTMARK if broadcasts else UnsubscribeHandling.NONE
            assert stream.unsubscribe_handling == expected, stream.id
            assert stream.description
    assert {"billing-receipts", "password-resets", "product-news", "weekly-digest"} <= set(
        streams_of(server("Acme", "Acme Production")))


def test_a_second_run_changes_nothing_and_says_so():
    first = seed()
    before = everything_stored()

    second = seed()

    assert everything_stored() == before
    assert "Made the team Acme" in first
    assert "Nothing changed" in second and "Made the team" not in second


def test_a_second_run_leaves_alone_what_someone_changed_in_the_demo():
    seed()
    owner = User.objects.get(email="owner@example.com")
    owner.set_password("changed-by-hand-42")
    owner.save()
    server_remove(actor=owner, team=Team.objects.get(name="Acme"), server=server("Acme", "Acme Staging"))

    out = seed()

    assert User.objects.get(email="owner@example.com").check_password("changed-by-hand-42")
    assert not Server.objects.filter(name="Acme Staging").exists()
    assert "(unless you changed it)" in out


def test_the_seed_says_where_to_sign_in_who_with_and_the_shared_password():
    out = seed()

    assert "http://127.0.0.1:8000" in out
    assert f"all with the password {DEMO_PASSWORD}:" in out
    for email, (team, role) in PEOPLE.items():
        line = next(line for line in out.splitlines() if email in line and " of " in line)
        assert line.split() == [email, role.capitalize(), "of", team]


def test_the_printed_sandbox_token_connects_the_spare_server_to_acme(sandbox):
    out = seed()
    token = spare_token()
    assert f"\n  {token}\n" in out and "sandbox token" in out
    assert sandbox.has_server(token)
    assert not Server.objects.filter(token_last4=token[-4:]).exists()

    connected = server_connect(actor=User.objects.get(email="admin@example.com"), team=Team.objects.get(name="Acme"),
                               name="Acme Marketing", token=token, sandbox=True)

    assert set(streams_of(connected)) == DEFAULT_STREAMS
    again = seed()
    assert token not in again
    assert "connected to Acme as “Acme Marketing”" in again


def test_the_audit_log_shows_how_each_team_member_and_server_came_to_be():
    seed()

    events = AuditEvent.objects.filter(request_id="demo-seed")
    assert sorted(events.values_list("action", "actor_label", "team_label", "target_label", "outcome")) == sorted([
        ("team.create", "owner@example.com", "Acme", "Acme", "success"),
        ("team.create", "globex@example.com", "Globex", "Globex", "success"),
        *[("member.invite", "owner@example.com", "Acme", email, "success")
          for email in ("admin@example.com", "editor@example.com", "viewer@example.com")],
        *[("invitation.accept", email, "Acme", email, "success")
          for email in ("admin@example.com", "editor@example.com", "viewer@example.com")],
        ("server.connect", "owner@example.com", "Acme", "Acme Production", "success"),
        ("server.connect", "owner@example.com", "Acme", "Acme Staging", "success"),
        ("server.connect", "globex@example.com", "Globex", "Globex Main", "success"),
    ])
    accepted = events.get(action="invitation.accept", actor_label="viewer@example.com")
    assert accepted.changes == {"role": [None, "Viewer"]}
    assert not AuditEvent.objects.exclude(request_id="demo-seed").exists()


def test_a_sandbox_that_lost_its_state_gets_the_connected_servers_back_with_their_streams():
    seed()
    install(Sandbox())  # as if var/sandbox.json had been deleted; the fixture puts the test's sandbox back

    out = seed()

    assert "Registered Acme / Acme Production in the sandbox again" in out
    production = streams_of(server("Acme", "Acme Production"))
    assert {"billing-receipts", "spring-sale", "legacy-alerts"} <= set(production)
    # Registered again in the order first made, the servers get back their Postmark server IDs.
    assert {stream.server_id for stream in production.values()} == {
        server("Acme", "Acme Production").postmark_server_id}
    assert "order-confirmations" in streams_of(server("Globex", "Globex Main"))
    assert "Nothing changed" in seed()


def test_the_seeded_sandbox_outlives_the_process_in_its_state_file(settings, tmp_path):
    settings.POSTMARK_SANDBOX_STATE = str(tmp_path / "sandbox.json")
    install(None)  # the next use makes the process-wide sandbox from the setting, as runserver will
    seed()

    install(Sandbox(state_file=tmp_path / "sandbox.json"))

    assert "weekly-digest" in streams_of(server("Acme", "Acme Production"))
    assert "Nothing changed" in seed()


@pytest.mark.parametrize(("setting", "message"), [
    ("DEMO", "only runs with DEMO or DEBUG on"),
    ("POSTMARK_SANDBOX_ENABLED", "POSTMARK_SANDBOX_ENABLED is off"),
])
def test_the_demo_seed_refuses_outside_the_demo_or_without_the_sandbox(settings, sandbox, setting, message):
    setattr(settings, setting, False)

    with pytest.raises(CommandError, match=message):
        seed()

    assert not User.objects.exists()
    assert not sandbox.has_server(spare_token())


def test_the_demo_seed_also_runs_in_development(settings):
    settings.DEMO, settings.DEBUG = False, True

    assert "Made the team Acme" in seed()


def test_acme_s_streams_have_suppressions_of_every_kind_and_the_known_address_has_a_story():
    from dashboard.management.demo_recipients import KNOWN_ADDRESS

    seed()
    production = postmark_client_for(server("Acme", "Acme Production"))
    kinds = {(str(item.reason), str(item.origin)) for stream in ("billing-receipts", "product-news", "weekly-digest",
                                                                 "outbound", "password-resets")
             for item in production.list_suppressions(stream)}
    known = {stream: [str(item.reason) for item in production.list_suppressions(stream, email=KNOWN_ADDRESS)]
             for stream in ("billing-receipts", "product-news", "weekly-digest", "password-resets")}
    bounces = production.list_bounces(count=10, offset=0, stream_id="password-resets", email_filter=KNOWN_ADDRESS)
    globex = postmark_client_for(server("Globex", "Globex Main"))

    assert {reason for reason, _ in kinds} == {"HardBounce", "SpamComplaint", "ManualSuppression"}
    assert {origin for _, origin in kinds} == {"Recipient", "Customer", "Admin"}
    assert sum(len(production.list_suppressions(stream)) for stream in ("billing-receipts", "product-news",
                                                                         "weekly-digest", "outbound",
                                                                         "password-resets")) >= 30
    assert known == {"billing-receipts": ["HardBounce"], "product-news": ["SpamComplaint"],
                     "weekly-digest": ["ManualSuppression"], "password-resets": []}
    assert [str(bounce.type) for bounce in bounces.bounces] == ["SoftBounce"]
    assert globex.list_suppressions("outbound") == []
