"""Fixtures shared by the whole suite."""

import pytest
from django.core.management import call_command
from django.test.utils import override_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """Pages render against the real hashed, compressed static files, as in production."""
    root = tmp_path_factory.mktemp("staticfiles")
    with override_settings(STATIC_ROOT=root):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(email="dana@example.com", password=PASSWORD, name="Dana Reyes")


@pytest.fixture
def signed_in_client(client, user):
    client.force_login(user)
    return client
