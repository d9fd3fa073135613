"""The deployment check: every key id the stored tokens use must still be in TOKEN_ENCRYPTION_KEYS."""

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test.utils import override_settings

pytestmark = pytest.mark.django_db

# The test ring without 'test2', the key the servers below are encrypted with.
RING_WITHOUT_TEST2 = next(entry for entry in settings.TOKEN_ENCRYPTION_KEYS.split(",") if entry.startswith("test1:"))


def key_ring_errors() -> list:
    return [message for message in run_checks(databases=["default"]) if message.id == "dashboard.E001"]


def test_the_check_fails_when_a_key_the_tokens_use_is_missing_from_the_ring(server_a, server_b):
    with override_settings(TOKEN_ENCRYPTION_KEYS=RING_WITHOUT_TEST2):
        errors = key_ring_errors()

    assert len(errors) == 1
    assert errors[0].msg == ("2 server token(s) are encrypted with key 'test2', which is not in "
                             "TOKEN_ENCRYPTION_KEYS; those servers could not reach Postmark.")
    assert "Add 'test2:<its key>' back to TOKEN_ENCRYPTION_KEYS" in errors[0].hint
    assert "dGVzdC1rZXktdHdv" not in errors[0].msg + errors[0].hint  # the key itself is never shown


def test_the_check_command_refuses_to_pass_a_ring_without_a_key_in_use(server_a):
    with override_settings(TOKEN_ENCRYPTION_KEYS=RING_WITHOUT_TEST2), pytest.raises(SystemCheckError) as failed:
        call_command("check", "--database", "default")

    assert "dashboard.E001" in str(failed.value)


def test_the_check_passes_when_every_key_in_use_is_in_the_ring(server_a, server_b):
    assert key_ring_errors() == []
    call_command("check", "--database", "default")


def test_the_check_passes_with_no_servers_at_all():
    with override_settings(TOKEN_ENCRYPTION_KEYS=RING_WITHOUT_TEST2):
        assert key_ring_errors() == []


def test_the_check_does_not_touch_the_database_unless_asked(server_a):
    with override_settings(TOKEN_ENCRYPTION_KEYS=RING_WITHOUT_TEST2):
        assert [message for message in run_checks() if message.id == "dashboard.E001"] == []
