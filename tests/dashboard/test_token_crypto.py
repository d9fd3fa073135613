"""Server tokens at rest: AES-256-GCM under the key ring, bound to one team and one server."""

import base64

import pytest

from dashboard import token_crypto
from dashboard.token_crypto import KeyRingError, TokenUnreadable, parse_key_ring
from tests.conftest import TOKEN_A, TOKEN_B

SERVER_ID = "6f1c4f1e-2d0b-4b8e-9a57-0d9a3c1f7e21"
OTHER_SERVER_ID = "0b7e2c59-41f3-4d1a-8c6e-5e2f9b3a4d10"
# Key material that must never appear in an error message (32 and 15 bytes).
KEY_NEW = base64.urlsafe_b64encode(b"new-key-material-32-bytes-long!!").decode()
KEY_OLD = base64.urlsafe_b64encode(b"old-key-material-32-bytes-long!!").decode()
SHORT_KEY = base64.urlsafe_b64encode(b"secret-material").decode()


@pytest.fixture
def ring():
    return parse_key_ring(f"new:{KEY_NEW},old:{KEY_OLD}")


def encrypt(token=TOKEN_A, *, team_id=1, server_id=SERVER_ID, ring):
    return token_crypto.encrypt_token(token, team_id=team_id, server_id=server_id, ring=ring)


def test_a_token_decrypts_back_for_the_team_and_server_it_was_encrypted_for(ring):
    _, ciphertext = encrypt(ring=ring)

    assert token_crypto.decrypt_token(ciphertext, team_id=1, server_id=SERVER_ID, ring=ring) == TOKEN_A


def test_the_same_token_encrypts_differently_each_time_and_never_in_the_clear(ring):
    _, first = encrypt(ring=ring)
    _, second = encrypt(ring=ring)

    assert first != second
    for ciphertext in (first, second):
        assert TOKEN_A not in ciphertext
        assert TOKEN_A.replace("-", "") not in ciphertext


def test_a_ciphertext_names_the_key_that_encrypted_it(ring):
    key_id, ciphertext = encrypt(ring=ring)

    assert key_id == "new"
    assert ciphertext.startswith("v1.new.")
    assert token_crypto.ciphertext_key_id(ciphertext) == "new"


def test_the_first_key_encrypts_and_every_key_decrypts(ring):
    old_only = parse_key_ring(f"old:{KEY_OLD}")
    old_key_id, old_ciphertext = encrypt(ring=old_only)

    assert old_key_id == "old"
    assert token_crypto.decrypt_token(old_ciphertext, team_id=1, server_id=SERVER_ID, ring=ring) == TOKEN_A
    assert encrypt(ring=ring)[0] == "new"


def test_the_test_suite_ring_encrypts_under_test2_and_still_decrypts_test1():
    ring = token_crypto.key_ring()

    assert ring.ids == ("test2", "test1")
    assert token_crypto.encrypt_token(TOKEN_A, team_id=1, server_id=SERVER_ID)[0] == "test2"


@pytest.mark.parametrize(
    ("team_id", "server_id"),
    [(1, OTHER_SERVER_ID), (2, SERVER_ID), (2, OTHER_SERVER_ID)],
    ids=["another server of the team", "the same server id in another team", "another team's server"],
)
def test_a_ciphertext_copied_to_another_server_row_does_not_decrypt(ring, team_id, server_id):
    _, ciphertext = encrypt(ring=ring)

    with pytest.raises(TokenUnreadable):
        token_crypto.decrypt_token(ciphertext, team_id=team_id, server_id=server_id, ring=ring)


def test_a_ciphertext_whose_key_left_the_ring_does_not_decrypt(ring):
    _, ciphertext = encrypt(ring=ring)

    with pytest.raises(TokenUnreadable) as raised:
        token_crypto.decrypt_token(ciphertext, team_id=1, server_id=SERVER_ID, ring=parse_key_ring(f"old:{KEY_OLD}"))
    assert "'new'" in str(raised.value)


def _flip_one_byte(ciphertext: str) -> str:
    version, key_id, blob = ciphertext.split(".")
    raw = bytearray(base64.urlsafe_b64decode(blob))
    raw[-1] ^= 0x01
    return f"{version}.{key_id}.{base64.urlsafe_b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_one_byte,
        lambda ciphertext: ciphertext.replace("v1.new.", "v1.old.", 1),  # relabelled with another ring key
        lambda ciphertext: ciphertext.replace("v1.", "v2.", 1),
        lambda ciphertext: ciphertext[:-8],
        lambda ciphertext: ciphertext + "!!",
        lambda ciphertext: "",
        lambda ciphertext: TOKEN_A,
    ],
    ids=["one byte changed", "another key's id", "unknown version", "cut short", "garbage added", "empty",
         "a token stored in the clear"],
)
def test_a_tampered_ciphertext_does_not_decrypt(ring, tamper):
    _, ciphertext = encrypt(ring=ring)

    with pytest.raises(TokenUnreadable) as raised:
        token_crypto.decrypt_token(tamper(ciphertext), team_id=1, server_id=SERVER_ID, ring=ring)
    assert TOKEN_A not in str(raised.value)


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("", "TOKEN_ENCRYPTION_KEYS is not set"),
        (" , ", "TOKEN_ENCRYPTION_KEYS is not set"),
        (KEY_NEW, "entry 1 must look like 'id:key'"),
        (f"new:{KEY_NEW},{KEY_OLD}", "entry 2 must look like 'id:key'"),
        (f"not an id:{KEY_NEW}", "entry 1 must look like 'id:key'"),
        (f"{'k' * 33}:{KEY_NEW}", "entry 1 must look like 'id:key'"),
        (f"short:{SHORT_KEY}", "key 'short' must be 32 bytes in URL-safe base64"),
        ("broken:***", "key 'broken' must be 32 bytes in URL-safe base64"),
        (f"twice:{KEY_NEW},twice:{KEY_OLD}", "names the key id 'twice' twice"),
    ],
    ids=["empty", "only commas", "a key without an id", "a second key without an id", "an id with spaces",
         "an id too long", "a key too short", "not base64", "an id twice"],
)
def test_a_malformed_key_ring_is_refused_in_plain_words_without_echoing_key_material(setting, says):
    with pytest.raises(KeyRingError) as raised:
        parse_key_ring(setting)

    message = str(raised.value)
    assert says in message
    for material in (KEY_NEW, KEY_OLD, SHORT_KEY, KEY_NEW.rstrip("="), SHORT_KEY.rstrip("=")):
        assert material not in message


def test_a_key_ring_never_shows_its_keys(ring):
    assert repr(ring) == "KeyRing(ids=('new', 'old'))"
    assert KEY_NEW not in repr(ring) and KEY_NEW not in str(ring)


def test_a_generated_key_is_accepted_by_the_ring():
    key = token_crypto.generate_key()

    assert parse_key_ring(f"fresh:{key}").ids == ("fresh",)
    assert key != token_crypto.generate_key()


def test_a_tokens_fingerprint_is_stable_under_one_key_and_differs_between_keys_and_tokens(ring):
    under_new = token_crypto.fingerprint(TOKEN_A, key_id="new", ring=ring)

    assert token_crypto.fingerprint(TOKEN_A, key_id="new", ring=ring) == under_new
    assert token_crypto.fingerprint(f"  {TOKEN_A}\n", key_id="new", ring=ring) == under_new
    assert token_crypto.fingerprint(TOKEN_A, key_id="old", ring=ring) != under_new
    assert token_crypto.fingerprint(TOKEN_B, key_id="new", ring=ring) != under_new
    assert TOKEN_A.replace("-", "") not in under_new
    assert token_crypto.fingerprints(TOKEN_A, ring=ring) == {
        "new": under_new,
        "old": token_crypto.fingerprint(TOKEN_A, key_id="old", ring=ring),
    }


def test_a_fingerprint_under_a_key_not_in_the_ring_is_refused(ring):
    with pytest.raises(TokenUnreadable):
        token_crypto.fingerprint(TOKEN_A, key_id="gone", ring=ring)


def test_only_the_last_four_characters_are_kept_for_display():
    assert token_crypto.last_four(f" {TOKEN_A} ") == "a1a1"
