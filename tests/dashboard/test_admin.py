"""The Django admin lets an operator look at teams, servers and the audit log, never change them."""

import pytest
from django.urls import reverse

from tests.conftest import TOKEN_A

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model, password):
    return django_user_model.objects.create_superuser(email="ops@example.com", password=password)


def test_the_admin_shows_a_server_without_its_token_or_ciphertext(operator, server_a, client_as):
    page = client_as(operator).get(reverse("admin:dashboard_server_change", args=[server_a.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "••••a1a1" in text
    assert TOKEN_A not in text and server_a.token_ciphertext not in text and server_a.token_fingerprint not in text


def test_audit_entries_are_read_only_in_the_admin(operator, team_a, client_as):
    from dashboard.models import AuditEvent

    event = AuditEvent.objects.get(action="team.create")
    browser = client_as(operator)
    assert browser.get(reverse("admin:dashboard_auditevent_changelist")).status_code == 200
    page = browser.get(reverse("admin:dashboard_auditevent_change", args=[event.pk])).content.decode()
    assert 'name="_save"' not in page
    deleting = browser.post(reverse("admin:dashboard_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert deleting.status_code == 403
    assert browser.get(reverse("admin:dashboard_auditevent_add")).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
