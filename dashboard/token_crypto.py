"""Encryption of Postmark server tokens at rest: AES-256-GCM under a key ring from the environment.

`TOKEN_ENCRYPTION_KEYS` holds comma-separated `id:key` pairs, each key 32 random bytes in URL-safe
base64. The first key encrypts; every key decrypts, so keys can be rotated without downtime
(`manage.py rotate_token_keys`). The keys are independent of SECRET_KEY.

A ciphertext reads `v1.<key id>.<base64 of nonce + ciphertext>`; its associated data binds it to
one team and one server, so a ciphertext copied to another row does not decrypt. Duplicate tokens
are found by a keyed fingerprint (HMAC-SHA256 under a key derived from a ring key), never by
comparing tokens. This module never logs, and its errors never contain, a token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

VERSION = "v1"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NONCE_BYTES = 12


class KeyRingError(ValueError):
    """The key ring setting is missing or malformed; the message says how to fix it."""


class TokenUnreadable(Exception):
    """A stored token cannot be decrypted: its key is not in the ring, or the ciphertext is not this row's."""


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # in order: the first encrypts

    @property
    def primary_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.keys)

    def key(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)

    def __repr__(self) -> str:  # never show key material
        return f"KeyRing(ids={self.ids!r})"


def _b64decode(text: str) -> bytes:
    """URL-safe base64, strictly: a stray character is an error, not something to skip."""
    return base64.b64decode(text.encode(), altchars=b"-_", validate=True)


def generate_key() -> str:
    """A fresh key in the ring's format (URL-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def parse_key_ring(text: str) -> KeyRing:
    pairs = [item.strip() for item in (text or "").split(",") if item.strip()]
    if not pairs:
        raise KeyRingError(
            "TOKEN_ENCRYPTION_KEYS is not set. Set it to 'id:key' pairs, e.g. "
            "'k1:<32 random bytes in URL-safe base64>'."
        )
    keys: list[tuple[str, bytes]] = []
    for position, pair in enumerate(pairs, start=1):
        key_id, sep, encoded = pair.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise KeyRingError(
                f"TOKEN_ENCRYPTION_KEYS entry {position} must look like 'id:key', with an id of "
                "letters, digits, '-' or '_' (at most 32)."
            )
        try:
            key = _b64decode(encoded.strip())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise KeyRingError(f"TOKEN_ENCRYPTION_KEYS key '{key_id}' must be 32 bytes in URL-safe base64.")
        if key_id in dict(keys):
            raise KeyRingError(f"TOKEN_ENCRYPTION_KEYS names the key id '{key_id}' twice.")
        keys.append((key_id, key))
    return KeyRing(tuple(keys))


@lru_cache(maxsize=4)
def _parsed(text: str) -> KeyRing:
    return parse_key_ring(text)


def key_ring() -> KeyRing:
    return _parsed(settings.TOKEN_ENCRYPTION_KEYS)


def _associated_data(team_id: int, server_id: object) -> bytes:
    return f"postmark-server-token|team={team_id}|server={server_id}".encode()


def encrypt_token(token: str, *, team_id: int, server_id: object, ring: KeyRing | None = None) -> tuple[str, str]:
    """(key id, ciphertext) of `token` under the ring's first key, bound to this team and server."""
    ring = ring or key_ring()
    key_id = ring.primary_id
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.key(key_id)).encrypt(nonce, token.encode(), _associated_data(team_id, server_id))
    return key_id, f"{VERSION}.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def ciphertext_key_id(ciphertext: str) -> str | None:
    parts = (ciphertext or "").split(".")
    return parts[1] if len(parts) == 3 and parts[0] == VERSION else None


def decrypt_token(ciphertext: str, *, team_id: int, server_id: object, ring: KeyRing | None = None) -> str:
    ring = ring or key_ring()
    parts = (ciphertext or "").split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise TokenUnreadable("The stored token is not in a format this version can read.")
    key = ring.key(parts[1])
    if key is None:
        raise TokenUnreadable(f"The stored token was encrypted with key '{parts[1]}', which is not in the key ring.")
    try:
        blob = _b64decode(parts[2])
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _associated_data(team_id, server_id))
    except (InvalidTag, binascii.Error, ValueError):
        raise TokenUnreadable("The stored token does not decrypt with its key for this server.") from None
    return plain.decode()


def _fingerprint_key(key: bytes) -> bytes:
    # A separate key per purpose: the fingerprint key never encrypts, the encryption key never hashes.
    return hmac.new(key, b"postmark-server-token-fingerprint", hashlib.sha256).digest()


def fingerprint(token: str, *, key_id: str, ring: KeyRing | None = None) -> str:
    ring = ring or key_ring()
    key = ring.key(key_id)
    if key is None:
        raise TokenUnreadable(f"The key '{key_id}' is not in the key ring.")
    return hmac.new(_fingerprint_key(key), token.strip().encode(), hashlib.sha256).hexdigest()


def fingerprints(token: str, *, ring: KeyRing | None = None) -> dict[str, str]:
    """The token's fingerprint under every key of the ring, to find it whichever key stored it."""
    ring = ring or key_ring()
    return {key_id: fingerprint(token, key_id=key_id, ring=ring) for key_id in ring.ids}


def last_four(token: str) -> str:
    return token.strip()[-4:]
