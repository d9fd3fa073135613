import pytest
from django.core.management import CommandError, call_command

from dashboard.management.commands.demo_seed import DEMO_EMAIL, DEMO_PASSWORD
from dashboard.models import User

pytestmark = pytest.mark.django_db


def test_the_demo_seed_makes_one_sign_in_and_says_how_to_use_it(settings, capsys):
    settings.DEMO = True
    call_command("demo_seed")
    call_command("demo_seed")
    out = capsys.readouterr().out
    assert User.objects.filter(email=DEMO_EMAIL).count() == 1
    assert User.objects.get(email=DEMO_EMAIL).check_password(DEMO_PASSWORD)
    assert f"sign in as {DEMO_EMAIL} with the password {DEMO_PASSWORD}." in out


def test_the_demo_seed_keeps_a_password_someone_changed(settings):
    settings.DEBUG = True
    call_command("demo_seed")
    user = User.objects.get(email=DEMO_EMAIL)
    user.set_password("changed-by-hand-42")
    user.save()
    call_command("demo_seed")
    assert User.objects.get(email=DEMO_EMAIL).check_password("changed-by-hand-42")


def test_the_demo_seed_refuses_outside_the_demo_and_development(settings):
    settings.DEBUG = False
    settings.DEMO = False
    with pytest.raises(CommandError, match="only runs with DEMO or DEBUG on"):
        call_command("demo_seed")
    assert not User.objects.filter(email=DEMO_EMAIL).exists()
