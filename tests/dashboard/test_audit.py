"""The audit log's core: one writer, append-only, request context, and attempts that outlive a rollback."""

import json
import re

import pytest
from django.db import transaction
from django.test import RequestFactory, override_settings
from django.views.debug import ExceptionReporter

from dashboard import audit
from dashboard.middleware import client_ip
from dashboard.models import AuditEvent, Membership, Role, User
from dashboard.services import ServiceError
from dashboard.services.teams import member_set_role, team_create
from tests.conftest import TOKEN_A

pytestmark = pytest.mark.django_db

# Shaped like a server token, but no server here holds it: as an e-mail address or a name, it is ordinary text.
UNKNOWN_UUID = "d35b732e-0000-4000-8000-000000000000"


def test_an_event_records_who_did_what_where_and_from_which_request(owner, team_a):
    with audit.context(ip="198.51.100.4", user_agent="Firefox/140", request_id="req-42"):
        event = audit.record(action="server.rename", actor=owner, team=team_a, role=Role.OWNER, target_type="server",
                             target_id="s-1", target_label="Acme Prod", changes={"name": ["Acme", "Acme Prod"]})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.actor_label, stored.actor_role) == (owner.pk, "olivia@acme.example", "owner")
    assert (stored.team_id, stored.team_label) == (team_a.pk, "Acme")
    assert (stored.ip, stored.user_agent, stored.request_id) == ("198.51.100.4", "Firefox/140", "req-42")
    assert (stored.action, stored.outcome) == ("server.rename", "success")
    assert (stored.target_type, stored.target_id, stored.target_label) == ("server", "s-1", "Acme Prod")
    assert stored.changes == {"name": ["Acme", "Acme Prod"]}
    assert stored.occurred_at.utcoffset().total_seconds() == 0


def test_only_registered_actions_can_be_recorded(owner, team_a):
    with pytest.raises(ValueError, match="not a registered audit action"):
        audit.record(action="stream.explode", actor=owner, team=team_a)
    assert not AuditEvent.objects.filter(action="stream.explode").exists()


WHERE_TEXT_GOES = ["changes", "detail", "target_label", "actor_label"]


def _event_holding(text: str, where: str):
    return {"changes": {"name": [None, text]}, "detail": f"Said: {text}", "target_label": text,
            "actor_label": text}[where]


@pytest.mark.parametrize("where", WHERE_TEXT_GOES)
@pytest.mark.parametrize("form", [str, str.upper, lambda token: token.replace("-", "")],
                         ids=["as-is", "upper-case", "without-hyphens"])
def test_the_token_of_a_connected_server_is_refused_anywhere_in_an_event(server_a, where, form):
    text = f"mail-{form(TOKEN_A)}@example.com"
    with pytest.raises(audit.SecretInEvent, match="must not hold a server token"):
        audit.record(action="auth.login.failure", actor=None, team=None, outcome="refused",
                     **{where: _event_holding(text, where)})
    assert not AuditEvent.objects.filter(action="auth.login.failure").exists()


def test_a_token_the_service_holds_but_has_not_stored_is_refused(owner, team_a):
    with pytest.raises(audit.SecretInEvent, match="must not hold a server token"):
        audit.record(action="server.connect", actor=owner, team=team_a, outcome="refused", secret=UNKNOWN_UUID,
                     detail=f"Postmark did not accept {UNKNOWN_UUID.upper()}.")
    assert not AuditEvent.objects.filter(action="server.connect").exists()


def test_an_event_refused_for_a_token_does_not_show_it_in_the_error_report(owner, team_a, rf):
    with pytest.raises(audit.SecretInEvent) as refused:
        audit.record(action="server.connect", actor=owner, team=team_a, outcome="refused", secret=UNKNOWN_UUID,
                     detail=f"Postmark did not accept {UNKNOWN_UUID}.")

    report = ExceptionReporter(rf.get("/"), refused.type, refused.value, refused.tb)
    assert "_check_no_secret" in report.get_traceback_text()
    assert UNKNOWN_UUID not in report.get_traceback_text()
    assert UNKNOWN_UUID not in report.get_traceback_html()


@pytest.mark.parametrize("name", ["token", "Server token", "password", "client_secret"])
def test_a_field_named_for_a_secret_holds_only_a_masked_value(owner, team_a, name):
    with pytest.raises(audit.SecretInEvent, match="may hold only a masked value"):
        audit.record(action="server.connect", actor=owner, team=team_a, changes={name: [None, "hunter2-abcd"]})
    audit.record(action="server.connect", actor=owner, team=team_a, changes={name: ["••••9f0e", "••••abcd"]})
    assert AuditEvent.objects.get(action="server.connect").changes == {name: ["••••9f0e", "••••abcd"]}


@pytest.mark.parametrize("where", WHERE_TEXT_GOES)
def test_a_uuid_that_is_no_token_of_ours_is_recorded_like_any_text(server_a, where):
    text = f"{UNKNOWN_UUID}@example.com"
    event = audit.record(action="auth.login.failure", actor=None, team=None, outcome="refused",
                         **{where: _event_holding(text, where)})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert text in json.dumps([stored.changes, stored.detail, stored.target_label, stored.actor_label])


def test_an_event_cannot_be_changed_or_deleted_once_written(owner, team_a):
    event = AuditEvent.objects.get(action="team.create")
    event.outcome = "failed"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(outcome="failed")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).outcome == "success"


def test_entries_outlive_the_people_and_teams_they_name(make_user):
    founder = make_user("founder@example.com", "Fran Founder")
    team = team_create(actor=founder, name="Short-lived")
    team_pk, founder_pk = team.pk, founder.pk
    team.delete()
    founder.delete()
    event = AuditEvent.objects.get(action="team.create")
    assert (event.team_id, event.team_label) == (team_pk, "Short-lived")
    assert (event.actor_id, event.actor_label) == (founder_pk, "founder@example.com")


def test_a_refused_attempt_is_recorded_even_when_the_whole_transaction_rolls_back(owner, admin, team_a):
    owners = Membership.objects.get(user=owner, team=team_a)

    class RequestFailed(Exception):
        pass

    # The outer transaction stands for ATOMIC_REQUESTS wrapping a view; the context for the request.
    with audit.context(ip="192.0.2.1", request_id="rolled-back"), pytest.raises(RequestFailed), transaction.atomic():
        with pytest.raises(ServiceError):
            member_set_role(actor=admin, team=team_a, membership=owners, role=Role.VIEWER)
        raise RequestFailed
    event = AuditEvent.objects.get(action="member.role_change")
    assert (event.outcome, event.actor_id, event.request_id, event.ip) == ("refused", admin.pk, "rolled-back",
                                                                           "192.0.2.1")
    assert event.changes == {"role": ["Owner", "Viewer"]}
    assert "has more access than you" in event.detail
    assert Membership.objects.get(pk=owners.pk).role == Role.OWNER


def test_a_refused_attempt_in_a_transaction_that_commits_is_recorded_once(
    owner, admin, team_a, django_capture_on_commit_callbacks
):
    owners = Membership.objects.get(user=owner, team=team_a)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic(), pytest.raises(ServiceError):
        member_set_role(actor=admin, team=team_a, membership=owners, role=Role.VIEWER)
    audit.settle_unsettled()
    assert AuditEvent.objects.filter(action="member.role_change", outcome="refused").count() == 1


def test_a_refused_attempt_outside_any_outer_transaction_is_written_at_once(owner, admin, team_a):
    owners = Membership.objects.get(user=owner, team=team_a)
    with pytest.raises(ServiceError):
        member_set_role(actor=admin, team=team_a, membership=owners, role=Role.EDITOR)
    assert AuditEvent.objects.filter(action="member.role_change", outcome="refused").count() == 1


def test_every_response_carries_a_request_id_that_the_events_of_that_request_share(client, user, password):
    response = client.post("/accounts/login/", {"username": user.email, "password": password},
                           headers={"user-agent": "Mozilla/5.0 (test)"})
    event = AuditEvent.objects.get(action="auth.login.success")
    assert len(response["X-Request-ID"]) == 32
    assert event.request_id == response["X-Request-ID"]
    assert (event.ip, event.user_agent) == ("127.0.0.1", "Mozilla/5.0 (test)")


def test_a_client_cannot_choose_the_request_id_it_is_answered_with(client):
    answered = client.get("/healthz", headers={"x-request-id": "lb-7f3a.22"})["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", answered)
    assert client.get("/healthz", headers={"x-request-id": "lb-7f3a.22"})["X-Request-ID"] != answered


def test_a_sane_proxy_request_id_is_kept_beside_ours_in_the_log(client, user, password):
    response = client.post("/accounts/login/", {"username": user.email, "password": password},
                           headers={"x-request-id": "lb-7f3a.22"})
    event = AuditEvent.objects.get(action="auth.login.success")
    assert (event.request_id, event.forwarded_request_id) == (response["X-Request-ID"], "lb-7f3a.22")
    assert audit.verify_chains().broken is None


@pytest.mark.parametrize("offered", ["<script>", "a" * 65, "two words", "semi;colon", ""])
def test_a_forged_or_odd_request_id_from_a_client_is_not_kept_at_all(client, user, password, offered):
    response = client.post("/accounts/login/", {"username": user.email, "password": password},
                           headers={"x-request-id": offered})
    event = AuditEvent.objects.get(action="auth.login.success")
    assert (event.request_id, event.forwarded_request_id) == (response["X-Request-ID"], "")


def test_the_proxys_request_id_is_covered_by_the_entrys_hash(client, user, password):
    client.post("/accounts/login/", {"username": user.email, "password": password},
                headers={"x-request-id": "lb-7f3a.22"})
    event = AuditEvent.objects.get(action="auth.login.success")
    content = audit.chain_content({name: getattr(event, name) for name in audit.HASHED_FIELDS})
    assert content["forwarded_request_id"] == "lb-7f3a.22"
    assert audit.entry_hash({**content, "forwarded_request_id": "lb-other"}) != event.hash
    assert audit.entry_hash(content) == event.hash


def test_an_entry_without_a_proxy_request_id_hashes_as_entries_did_before_the_field_existed(owner, team_a):
    event = AuditEvent.objects.get(action="team.create")
    before = audit.chain_content({name: getattr(event, name) for name in audit.CHAIN_FIELDS})
    assert "forwarded_request_id" not in before
    assert audit.entry_hash(before) == event.hash


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.2"),  # nobody in front is trusted: the socket's address
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the visitor cannot forge the trusted proxy's entry
        (2, "203.0.113.9, 10.1.1.1", "203.0.113.9"),
        (1, "not-an-address", None),
    ],
)
def test_the_visitor_address_comes_from_trusted_proxies_only(proxies, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(NUM_PROXIES=proxies):
        assert client_ip(request) == expected


def test_the_registry_names_every_action_this_issue_records():
    assert {
        "auth.login.success", "auth.login.failure", "team.create", "member.invite", "invitation.accept",
        "invitation.revoke", "member.role_change", "member.remove", "server.connect", "server.token.replace",
        "server.remove", "token_keys.rotate", "access.denied",
    } <= set(audit.ACTIONS)


def test_no_code_outside_the_audit_module_creates_audit_events():
    import re
    from pathlib import Path

    creates = re.compile(r"(?<!class )AuditEvent\(|AuditEvent\.objects\.(create|bulk_create)")
    root = Path(__file__).resolve().parents[2]
    writers = []
    for path in [*root.joinpath("dashboard").rglob("*.py"), *root.joinpath("streams").rglob("*.py")]:
        text = path.read_text()
        if path.name != "audit.py" and creates.search(text):
            writers.append(str(path.relative_to(root)))
    assert writers == []


def test_the_user_label_survives_as_typed_on_a_failed_sign_in(client):
    client.post("/accounts/login/", {"username": "Nobody@Example.com", "password": "wrong"})
    event = AuditEvent.objects.get(action="auth.login.failure")
    assert (event.actor_id, event.actor_label, event.outcome) == (None, "Nobody@Example.com", "refused")
    assert not User.objects.exists()


def test_an_admin_sees_both_request_ids_of_an_entry_in_the_audit_log(client, client_as, owner, team_a):
    client.force_login(owner)
    response = client.post(f"/t/{team_a.slug}/leave/", headers={"x-request-id": "lb-7f3a.22"})
    page = client_as(owner).get(f"/t/{team_a.slug}/audit/").content.decode()
    assert f"<dt>Request ID</dt><dd><code>{response['X-Request-ID']}</code></dd>" in page
    assert "<dt>Proxy's request ID</dt><dd><code>lb-7f3a.22</code></dd>" in page
