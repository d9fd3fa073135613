"""The sign-in lockout holds across app instances: two gunicorn processes, started as the image starts them, on
one database, take turns answering a guesser, and after the limit both refuse even the right password.

On PostgreSQL (DATABASE_URL set; CI's second round, with Redis) both processes use the suite's test database,
whose committed rows Django empties after the test. On the embedded default they share a SQLite file: the test
database (in memory) is copied into it before they start and back after they stop, so the test reads the audit
log through the ORM either way.
"""

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.db import connection
from django.urls import reverse

from dashboard.models import AuditEvent
from tests.conftest import PASSWORD
from tests.dashboard.test_sign_in_protection import LOCKOUT, _without_csrf
from tests.test_deploy import free_port, images_serving, production_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_log_can_be_emptied")]
LIMIT = 3


@contextmanager
def shared_database(tmp_path: Path) -> Iterator[str]:
    """A database URL both app processes can open, holding what the test committed so far. On SQLite what they
    wrote comes back into the test's own database when the block ends."""
    if connection.vendor == "postgresql":
        settings = connection.settings_dict
        user = quote(settings["USER"]) + (f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else "")
        yield (f"postgres://{user}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/"
               f"{quote(settings['NAME'])}")
        return
    shared = tmp_path / "shared.sqlite3"
    connection.ensure_connection()
    copy = sqlite3.connect(shared)
    connection.connection.backup(copy)
    copy.close()
    yield f"sqlite:///{shared}"
    written = sqlite3.connect(shared)
    written.backup(connection.connection)
    written.close()


class Instance:
    """One app process behind a proxy that terminates TLS and names the visitor's address (NUM_PROXIES=1)."""

    def __init__(self, base: str):
        self.base, self.origin = base, base.replace("http://", "https://")

    def headers(self, address: str, cookie: str = "") -> dict:
        return {"X-Forwarded-Proto": "https", "X-Forwarded-For": address, "Origin": self.origin,
                "Cookie": cookie}

    def sign_in_page(self) -> tuple[str, str]:
        """The CSRF cookie and form token a browser gets with the page (the cookie is Secure: sent by hand)."""
        page = httpx.get(self.base + reverse("login"), headers=self.headers("192.0.2.200"), timeout=10)
        assert page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return f"csrftoken={page.cookies['csrftoken']}", token

    def sign_in(self, email: str, password: str, *, address: str, csrf: tuple[str, str]) -> httpx.Response:
        cookie, token = csrf
        return httpx.post(self.base + reverse("login"), headers=self.headers(address, cookie), timeout=10,
                          data={"csrfmiddlewaretoken": token, "username": email, "password": password})


def test_guesses_spread_over_two_processes_lock_the_account_on_both(user, tmp_path, collected_static):
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with shared_database(tmp_path) as database_url:
        # A limit of 3 (5 in production) keeps the test short: an address no one has costs a password hash a try.
        environments = [production_env(port=free_port(), static_root=collected_static, database_url=database_url,
                                       NUM_PROXIES="1", SIGN_IN_FAILURE_LIMIT=str(LIMIT)) for _ in logs]
        with images_serving(environments, logs=logs) as bases:
            instances = [Instance(base) for base in bases]
            csrf = instances[0].sign_in_page()
            # Wrong passwords for Dana and for an address no one has, in turn on each process and each from a
            # network of its own, so only the count per account, shared through the database, can stop them. The
            # failure that reaches the limit is answered with the lockout already.
            for number, expected in enumerate([200] * (LIMIT - 1) + [429]):
                instance = instances[number % 2]
                assert instance.sign_in("dana@example.com", "wrong password", address=f"198.51.100.{number + 1}",
                                        csrf=csrf).status_code == expected
                assert instance.sign_in("nobody@example.com", "wrong password", address=f"203.0.113.{number + 1}",
                                        csrf=csrf).status_code == expected
            known = [instance.sign_in("dana@example.com", PASSWORD, address=f"198.51.100.{50 + n}", csrf=csrf)
                     for n, instance in enumerate(instances)]
            unknown = [instance.sign_in("nobody@example.com", PASSWORD, address=f"203.0.113.{50 + n}", csrf=csrf)
                       for n, instance in enumerate(instances)]

    for response in known + unknown:
        assert response.status_code == 429
        assert LOCKOUT in response.text
        assert "<h1>Sign in</h1>" in response.text
        assert "sessionid" not in response.cookies
    pages = {_without_csrf(response, "dana@example.com") for response in known}
    pages |= {_without_csrf(response, "nobody@example.com") for response in unknown}
    assert len(pages) == 1, "the lockout reads the same on both processes, whether or not the account exists"
    answered = [log.read_text().count('"POST /accounts/login/ HTTP/1.1"') for log in logs]
    assert answered == [2 + 2 + 2, 1 + 1 + 2], "each process took its turn"

    locked = AuditEvent.objects.filter(action="auth.login.locked").order_by("chain_seq")
    assert [(event.actor_label, event.target_id, event.outcome) for event in locked] == [
        ("dana@example.com", str(user.pk), "refused"), ("nobody@example.com", "", "refused")]
    failures = AuditEvent.objects.filter(action="auth.login.failure", actor_label="dana@example.com")
    assert sorted(failures.values_list("detail", flat=True)) == sorted(
        ["Wrong e-mail address or password."] * LIMIT + ["Refused unchecked: too many sign-in attempts."] * 2)
    assert sorted(failures.values_list("ip", flat=True)) == ["198.51.100.1", "198.51.100.2", "198.51.100.3",
                                                             "198.51.100.50", "198.51.100.51"]
