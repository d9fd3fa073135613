"""Key rotation: `manage.py rotate_token_keys` re-encrypts stored tokens under the ring's first key,
`--retire` says when an old key may leave the ring, and `generate_token_key` makes a new one."""

import io

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test.utils import override_settings
from django.utils import timezone

from dashboard import token_crypto
from dashboard.models import AuditEvent, Server
from dashboard.services import ServiceError
from dashboard.services.servers import postmark_client_for, server_connect
from tests.conftest import SPARE_TOKEN, TOKEN_A

pytestmark = pytest.mark.django_db

TOKEN_D = "dddddddd-0000-4000-8000-00000000d4d4"
TOKENS = (TOKEN_A, SPARE_TOKEN, TOKEN_D)
# The ring as it was before 'test2' was added: 'test1' alone.
RING_BEFORE = next(entry for entry in settings.TOKEN_ENCRYPTION_KEYS.split(",") if entry.startswith("test1:"))


@pytest.fixture
def servers_under_test1(sandbox, team_a, owner):
    """Three servers connected while 'test1' was the only key; the default ring now puts 'test2' first."""
    with override_settings(TOKEN_ENCRYPTION_KEYS=RING_BEFORE):
        connected = []
        for number, token in enumerate(TOKENS, start=1):
            sandbox.add_server(token)
            connected.append(server_connect(actor=owner, team=team_a, name=f"Server {number}", token=token,
                                            sandbox=True))
    assert {server.token_key_id for server in connected} == {"test1"}
    return connected


class Run:
    """Every word the commands printed, to check none of it is a token."""

    def __init__(self):
        self.printed: list[str] = []

    def __call__(self, *args, **options) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*args, stdout=out, stderr=err, **options)
        finally:
            self.printed += [out.getvalue(), err.getvalue()]
        return out.getvalue(), err.getvalue()


@pytest.fixture
def run():
    runner = Run()
    yield runner
    everything = "\n".join(runner.printed).lower()
    for token in TOKENS:
        assert token not in everything and token.replace("-", "") not in everything


def stored() -> dict[str, tuple[str, str]]:
    return {str(server.pk): (server.token_key_id, server.token_ciphertext) for server in Server.objects.all()}


def test_rotation_re_encrypts_every_token_under_the_first_key_and_records_each_one(servers_under_test1, team_a,
                                                                                   run):
    out, err = run("rotate_token_keys")

    assert "Re-encrypted 3 server token(s) under key 'test2'." in out
    assert "0 server token(s) were already under key 'test2'." in out
    assert err == ""
    for server in Server.objects.all():
        assert server.token_key_id == "test2"
        assert server.token_ciphertext.startswith("v1.test2.")
        assert postmark_client_for(server).list_streams()  # the re-encrypted token still reaches Postmark
    events = AuditEvent.objects.filter(action="token_keys.rotate")
    assert sorted(event.target_id for event in events) == sorted(str(server.pk) for server in servers_under_test1)
    for event in events:
        assert (event.outcome, event.actor_id, event.actor_label) == ("success", None, "rotate_token_keys")
        assert (event.team_id, event.target_type) == (team_a.pk, "server")
        assert event.changes == {"encryption key": ["test1", "test2"]}
        assert event.request_id not in ("", "test-request")  # the command's own run, one id for all
    assert len({event.request_id for event in events}) == 1
    assert f"request id {events[0].request_id}" in out


def test_after_rotation_a_duplicate_token_is_still_recognised(servers_under_test1, team_a, owner, run):
    run("rotate_token_keys")

    with pytest.raises(ServiceError, match="already connected to Acme as “Server 1”"):
        server_connect(actor=owner, team=team_a, name="Again", token=TOKEN_A, sandbox=True)


def test_a_dry_run_changes_nothing(servers_under_test1, run):
    before = stored()

    out, _ = run("rotate_token_keys", "--dry-run")

    assert "Dry run: 3 server token(s) would be re-encrypted under key 'test2'. Nothing was changed." in out
    assert stored() == before
    assert not AuditEvent.objects.filter(action="token_keys.rotate").exists()


def test_a_second_run_re_encrypts_nothing(servers_under_test1, run):
    run("rotate_token_keys")
    after_first = stored()

    out, _ = run("rotate_token_keys")

    assert "Re-encrypted 0 server token(s) under key 'test2'." in out
    assert "3 server token(s) were already under key 'test2'." in out
    assert stored() == after_first
    assert AuditEvent.objects.filter(action="token_keys.rotate").count() == 3


@pytest.mark.parametrize("dry_run", [False, True], ids=["for real", "dry run"])
def test_small_batches_still_reach_every_server(servers_under_test1, run, dry_run):
    out, _ = run("rotate_token_keys", "--batch-size", "1", *(["--dry-run"] if dry_run else []))

    assert ("3 server token(s) would be re-encrypted" if dry_run else "Re-encrypted 3 server token(s)") in out
    expected = "test1" if dry_run else "test2"
    assert set(Server.objects.values_list("token_key_id", flat=True)) == {expected}


def test_a_batch_size_below_one_is_refused(run):
    with pytest.raises(CommandError, match="--batch-size must be 1 or more"):
        run("rotate_token_keys", "--batch-size", "0")


def test_an_unreadable_token_is_reported_and_the_others_are_still_rotated(servers_under_test1, team_a, run):
    broken, donor = servers_under_test1[0], servers_under_test1[1]
    Server.objects.filter(pk=broken.pk).update(token_ciphertext=donor.token_ciphertext)

    out, err = run("rotate_token_keys")

    assert "Re-encrypted 2 server token(s) under key 'test2'." in out
    assert "1 server token(s) could not be read" in err
    assert "  - Acme / Server 1" in err
    assert "re-enter the token on the server's page" in err
    assert Server.objects.get(pk=broken.pk).token_key_id == "test1"
    assert AuditEvent.objects.filter(action="token_keys.rotate").count() == 2
    with pytest.raises(CommandError, match="1 server token"):
        run("rotate_token_keys", "--retire", "test1")


def test_an_old_key_cannot_be_retired_while_a_token_still_uses_it(servers_under_test1, run):
    with pytest.raises(CommandError) as refused:
        run("rotate_token_keys", "--retire", "test1")

    assert refused.value.returncode != 0
    message = str(refused.value)
    assert "3 server token(s) are still encrypted with key 'test1'" in message
    assert "Run `manage.py rotate_token_keys` first" in message
    assert set(Server.objects.values_list("token_key_id", flat=True)) == {"test1"}


def test_an_old_key_can_be_retired_once_every_token_is_rotated(servers_under_test1, run):
    run("rotate_token_keys")

    out, _ = run("rotate_token_keys", "--retire", "test1")

    assert "No server token uses key 'test1' any more. You can now remove 'test1:…' from TOKEN_ENCRYPTION_KEYS" in out


def test_the_first_key_cannot_be_retired(servers_under_test1, run):
    run("rotate_token_keys")

    with pytest.raises(CommandError, match="'test2' is the first key of TOKEN_ENCRYPTION_KEYS"):
        run("rotate_token_keys", "--retire", "test2")


def test_retiring_a_key_the_ring_no_longer_has_and_nobody_uses_does_nothing(run):
    out, _ = run("rotate_token_keys", "--retire", "test0")

    assert "No server token uses key 'test0', and it is not in TOKEN_ENCRYPTION_KEYS. Nothing to do." in out


# --- generate_token_key ---------------------------------------------------------------------------


def test_a_generated_key_entry_is_ready_to_go_first_in_the_ring(run):
    out, err = run("generate_token_key")

    entry = out.strip()
    key_id = f"k{timezone.localdate():%Y%m%d}"
    assert entry.startswith(f"{key_id}:")
    ring = token_crypto.parse_key_ring(f"{entry},{settings.TOKEN_ENCRYPTION_KEYS}")
    assert ring.primary_id == key_id
    assert err.count("\n") == 1
    assert "Put it first in TOKEN_ENCRYPTION_KEYS" in err and "rotate_token_keys" in err
    assert entry.split(":", 1)[1] not in err


def test_a_generated_key_takes_the_id_it_is_given_and_is_new_each_time(run):
    first, _ = run("generate_token_key", "--id", "k2")
    second, _ = run("generate_token_key", "--id", "k2")

    assert first.startswith("k2:") and second.startswith("k2:")
    assert first != second


@pytest.mark.parametrize(("key_id", "says"), [("not ok!", "A key id is 1 to 32 letters"),
                                              ("test1", "already has a key 'test1'")])
def test_a_generated_key_needs_a_usable_new_id(key_id, says, run):
    with pytest.raises(CommandError, match=says):
        run("generate_token_key", "--id", key_id)
