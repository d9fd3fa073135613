import pytest
from django.db import IntegrityError
from django.db.migrations.loader import MigrationLoader

from dashboard.models import User


def test_the_user_model_is_created_in_the_very_first_migration():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    first = loader.get_migration("dashboard", "0001_initial")
    created = {op.name for op in first.operations if op.__class__.__name__ == "CreateModel"}
    assert "User" in created
    assert first.initial is True


@pytest.mark.django_db
def test_a_user_signs_in_by_email_and_has_no_username():
    user = User.objects.create_user(email="Dana@Example.COM", password="x-secret-123")
    assert User.USERNAME_FIELD == "email"
    assert user.email == "dana@example.com"
    assert not hasattr(user, "username")


@pytest.mark.django_db
def test_two_accounts_cannot_share_an_address_in_different_case():
    User.objects.create_user(email="dana@example.com", password="x-secret-123")
    with pytest.raises(IntegrityError):
        User.objects.create(email="DANA@example.com")


@pytest.mark.django_db
def test_a_superuser_is_made_by_email():
    admin = User.objects.create_superuser(email="root@example.com", password="x-secret-123")
    assert admin.is_staff and admin.is_superuser
