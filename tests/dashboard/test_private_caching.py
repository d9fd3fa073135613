"""No cache between the server and a signed-in person may keep their pages (member lists, audit entries)."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["team_home", "member_list", "server_detail", "audit_log", "audit_export_csv"])
def test_a_signed_in_persons_team_pages_tell_every_cache_not_to_keep_them(name, client_as, owner, team_a, server_a):
    kwargs = {"team_slug": team_a.slug}
    if name == "server_detail":
        kwargs["server_id"] = server_a.pk
    response = client_as(owner).get(reverse(name, kwargs=kwargs))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"


@pytest.mark.parametrize("name", ["team_list", "preferences", "password_change"])
def test_a_signed_in_persons_account_pages_are_not_kept_either(name, client_as, owner):
    response = client_as(owner).get(reverse(name))
    assert response["Cache-Control"] == "no-store, private"


def test_a_refusal_to_a_signed_in_person_is_not_kept_either(client_as, viewer, team_a):
    response = client_as(viewer).get(reverse("audit_log", kwargs={"team_slug": team_a.slug}))
    assert response.status_code == 403
    assert response["Cache-Control"] == "no-store, private"


def test_static_files_keep_their_long_lifetime_for_a_signed_in_person(client_as, owner):
    browser = client_as(owner)
    page = browser.get(reverse("team_list")).content.decode()
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page).group(1)
    response = browser.get(css)
    assert response.status_code == 200
    assert "immutable" in response["Cache-Control"]
    assert "no-store" not in response["Cache-Control"]
