"""Fixtures shared by the whole suite, and its one cast of personas.

Team A ("Acme") has an owner, an admin, an editor and a viewer, and a server in the in-process
sandbox. The outsider owns team B ("Globex"), with a server of its own. Every access test uses them.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from whitenoise.base import WhiteNoise, scantree

from dashboard import audit
from dashboard.models import Membership, Role, Team
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import server_connect
from dashboard.services.teams import team_create

PASSWORD = "correct horse battery staple"
# Made up, shaped like Postmark's: the sandbox must never see a real token.
TOKEN_A = "aaaaaaaa-0000-4000-8000-00000000a1a1"
TOKEN_B = "bbbbbbbb-0000-4000-8000-00000000b2b2"
SPARE_TOKEN = "cccccccc-0000-4000-8000-00000000c3c3"


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """Pages render against the real hashed, compressed static files, as in production."""
    root = tmp_path_factory.mktemp("staticfiles")
    with override_settings(STATIC_ROOT=root):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Real hashing costs ~0.3 s a user on purpose; the suite makes thousands of users."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def static_files_scanned_once():
    """WhiteNoise's middleware stats, types and dates every collected file when it starts, and the test client
    starts every middleware afresh for each new browser (`Client()`): about a quarter of a page test's time went
    there. The files it found are kept here for the next middleware that would find the same ones: same folder,
    same files (path, size, modification time) and same WhiteNoise settings; anything else is scanned as usual."""
    scan = WhiteNoise.update_files_dictionary
    found = {}

    def update_files_dictionary(self, root, prefix):
        immutable = getattr(self, "immutable_file_test", None)
        key = (
            type(self), root, prefix, getattr(self, "static_prefix", None), self.max_age, self.allow_all_origins,
            self.charset, self.add_headers_function, self.index_file, getattr(immutable, "__func__", immutable),
            frozenset(self.media_types.types_map.items()), settings.STATIC_URL, repr(settings.STORAGES),
            frozenset((path, stat.st_size, stat.st_mtime_ns) for path, stat in scantree(root)),
        )
        if key not in found:
            files, self.files = self.files, {}
            try:
                scan(self, root, prefix)
                found[key] = self.files
            finally:
                self.files = {**files, **self.files}
            return
        self.files.update(found[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WhiteNoise, "update_files_dictionary", update_files_dictionary)
        yield


@pytest.fixture(autouse=True)
def audit_context():
    """As in a request: events carry an address, a browser and a request id."""
    with audit.context(ip="203.0.113.7", user_agent="pytest", request_id="test-request") as context:
        yield context


class ListeningSandbox(Sandbox):
    """The sandbox, noting each request that reaches it as "METHOD /path", so a test can say what Postmark saw."""

    def __init__(self, **options):
        super().__init__(**options)
        self.received: list[str] = []

    def __call__(self, environ, start_response):
        self.received.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return super().__call__(environ, start_response)


@pytest.fixture
def sandbox():
    """A fresh Sandbox installed as the process-wide one for this test; the previous one comes back after."""
    fresh = ListeningSandbox()
    previous = install(fresh)
    try:
        yield fresh
    finally:
        fresh.clear_faults()  # releases a request a failed test left hanging
        install(previous)


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def make_user(django_user_model):
    def make(email: str, name: str = ""):
        return django_user_model.objects.create_user(email=email, password=PASSWORD, name=name)

    return make


@pytest.fixture
def user(make_user):
    return make_user("dana@example.com", "Dana Reyes")


@pytest.fixture
def signed_in_client(client, user):
    client.force_login(user)
    return client


# --- The cast ------------------------------------------------------------------------------------


@pytest.fixture
def owner(make_user):
    return make_user("olivia@acme.example", "Olivia Owner")


@pytest.fixture
def team_a(owner):
    return team_create(actor=owner, name="Acme")


def _member(team, user, role):
    Membership.objects.create(team=team, user=user, role=role)
    return user


@pytest.fixture
def admin(make_user, team_a):
    return _member(team_a, make_user("adam@acme.example", "Adam Admin"), Role.ADMIN)


@pytest.fixture
def editor(make_user, team_a):
    return _member(team_a, make_user("edith@acme.example", "Edith Editor"), Role.EDITOR)


@pytest.fixture
def viewer(make_user, team_a):
    return _member(team_a, make_user("victor@acme.example", "Victor Viewer"), Role.VIEWER)


@pytest.fixture
def outsider(make_user):
    return make_user("oscar@globex.example", "Oscar Outsider")


@pytest.fixture
def team_b(outsider) -> Team:
    return team_create(actor=outsider, name="Globex")


@pytest.fixture
def server_a(sandbox, team_a, owner):
    sandbox.add_server(TOKEN_A, name="Acme Production")
    return server_connect(actor=owner, team=team_a, name="Acme Production", token=TOKEN_A, sandbox=True)


@pytest.fixture
def server_b(sandbox, team_b, outsider):
    sandbox.add_server(TOKEN_B, name="Globex Main")
    return server_connect(actor=outsider, team=team_b, name="Globex Main", token=TOKEN_B, sandbox=True)


@pytest.fixture
def cast(owner, admin, editor, viewer, outsider, team_a, team_b):
    """Everyone, by persona name; `None` is the anonymous visitor."""
    return {"anonymous": None, "outsider": outsider, "viewer": viewer, "editor": editor, "admin": admin,
            "owner": owner}


@pytest.fixture
def client_as():
    """A fresh browser for `user` (signed in), or an anonymous one for None."""

    def make(user):
        browser = Client()
        if user is not None:
            browser.force_login(user)
        return browser

    return make


@pytest.fixture(autouse=True)
def fresh_cache():
    """Counts kept in the cache (password reset requests per address) start at zero in every test.

    Sign-in lockouts need nothing here: django-axes counts failures in the database, which each test rolls back."""
    cache.clear()
    yield


@contextmanager
def audit_log_truncatable(django_db_blocker) -> Iterator[None]:
    """For a module whose tests need committed data (a live server, threads): Django empties every table after
    each of them, and on PostgreSQL the audit table refuses TRUNCATE (migration 0004). That one trigger is off
    inside this block and back on after it, for the rest of the suite, whose tests of the trigger expect it."""
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE dashboard_auditevent DISABLE TRIGGER dashboard_auditevent_no_truncate")
    yield
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE dashboard_auditevent ENABLE TRIGGER dashboard_auditevent_no_truncate")
        connection.close()  # else it outlives the suite, and PostgreSQL won't drop the test database under it


def at_once(work, times: int, *, timeout: float = 60) -> tuple[list, list[Exception]]:
    """Runs `work` on `times` threads released together (committed-data tests: each thread has its own database
    connection, closed when it is done); what they returned, and what they raised."""
    results, errors, start = [], [], threading.Barrier(times)

    def run():
        start.wait()
        try:
            results.append(work())
        except Exception as error:  # noqa: BLE001 (the test reports it)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results, errors


@pytest.fixture(scope="module")
def audit_log_can_be_emptied(django_db_setup, django_db_blocker):
    """`audit_log_truncatable` for a whole module of committed-data tests:
    `pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("audit_log_can_be_emptied")]`."""
    with audit_log_truncatable(django_db_blocker):
        yield
